"""Peer workloads that can run in another Python (a peer's own virtual environment).

Each ``setup(**args) -> (contenders, info)`` returns ``{name: [chunk callables]}`` and a
dict with at least ``version``; :class:`fastload.bench.harness.RemoteContenders` calls it
in ``python -m fastload.bench.worker`` under the peer's Python (torchvision and
torchaudio pin their own torch, which need not be the main environment's), or the bench
calls it in-process when the peer imports there. Inputs are file paths (the cached bench
data of :mod:`fastload.bench.data`), so both sides time the same bytes.

This module imports nothing of fastload but the standard library and numpy at the top:
the peer's Python needs only the peer, numpy, Pillow and soundfile.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np

__all__ = [
    "spans",
    "spdl_image",
    "torch_dataloader_image",
    "torchaudio_audio",
    "torchvision_image",
]

IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


def spans(n, size):
    return [range(k, min(k + size, n)) for k in range(0, n, size)]


def over(n, fn, threads=1, chunk=8, pool=None):
    """Chunk callables running ``fn(i)`` for every i, ``chunk`` items per thread each,
    split round-robin over ``threads`` threads of ``pool`` (the same split the fastload
    side uses)."""
    out = []
    for span in spans(n, chunk * max(1, threads)):
        if threads <= 1 or pool is None:

            def go(span=span):
                for i in span:
                    fn(i)
        else:
            parts = [list(span)[k::threads] for k in range(threads)]

            def go(parts=parts):
                list(pool.map(lambda idx: [fn(i) for i in idx], parts))

        out.append(go)
    return out


def _read(paths):
    out = []
    for p in paths:
        with open(p, "rb") as f:
            out.append(f.read())
    return out


def torchvision_image(paths, threads=1, chunk=8, seed=0):
    """torchvision.io + transforms.v2 and torchvision + PIL, train and eval, ImageNet
    recipes: ``tv_io_train``, ``tv_pil_train``, ``tv_io_eval``, ``tv_pil_eval``."""
    import torch
    import torchvision
    from PIL import Image
    from torchvision import transforms as T
    from torchvision.io import ImageReadMode, decode_jpeg
    from torchvision.transforms import v2

    torch.set_num_threads(max(1, threads))
    torch.manual_seed(seed)
    datas = _read(paths)
    tensors = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in datas]
    m, s = [v / 255 for v in IMAGENET_MEAN], [v / 255 for v in IMAGENET_STD]
    v2_train = v2.Compose(
        [
            v2.RandomResizedCrop(224, antialias=True),
            v2.RandomHorizontalFlip(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(m, s),
        ]
    )
    v2_eval = v2.Compose(
        [
            v2.Resize(256, antialias=True),
            v2.CenterCrop(224),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(m, s),
        ]
    )
    pil_train = T.Compose(
        [T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(m, s)]
    )
    pil_eval = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(m, s)])

    def io_dec(i):
        return decode_jpeg(tensors[i], mode=ImageReadMode.RGB)

    def pil_open(i):
        return Image.open(io.BytesIO(datas[i])).convert("RGB")

    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    n = len(datas)
    contenders = {
        "tv_io_train": over(n, lambda i: v2_train(io_dec(i)), threads, chunk, pool),
        "tv_pil_train": over(n, lambda i: pil_train(pil_open(i)), threads, chunk, pool),
        "tv_io_eval": over(n, lambda i: v2_eval(io_dec(i)), threads, chunk, pool),
        "tv_pil_eval": over(n, lambda i: pil_eval(pil_open(i)), threads, chunk, pool),
    }
    return contenders, {
        "version": f"torchvision {torchvision.__version__}, torch {torch.__version__}"
    }


def spdl_image(paths, threads=1, chunk=8, seed=0):
    """SPDL (``spdl.io.load_image``: FFmpeg's decoder and filter graph) with the ImageNet
    recipes, normalised to float32 CHW in numpy: ``spdl_train`` (a random crop of area
    5-100 % and aspect 3/4-4/3, drawn here and applied by FFmpeg's ``crop``, ``scale``
    224x224 bilinear, a random ``hflip``) and ``spdl_eval`` (shorter side 256, centre crop
    224)."""
    import spdl
    import spdl.io

    datas = _read(paths)
    rng = np.random.default_rng(seed)
    mean = np.asarray(IMAGENET_MEAN, np.float32)
    inv_std = 1 / np.asarray(IMAGENET_STD, np.float32)

    def train_desc():
        area, ratio = rng.uniform(0.05, 1.0), np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
        fx, fy = rng.random(), rng.random()
        flip = ",hflip" if rng.random() < 0.5 else ""
        return (
            f"crop=w='min(iw,sqrt({area}*iw*ih*{ratio}))':h='min(ih,sqrt({area}*iw*ih/"
            f"{ratio}))':x='(iw-ow)*{fx}':y='(ih-oh)*{fy}',scale=224:224:flags=bilinear"
            f"{flip},format=rgb24"
        )

    eval_desc = (
        "scale=w='if(lt(iw,ih),256,-2)':h='if(lt(iw,ih),-2,256)':flags=bilinear,"
        "crop=224:224,format=rgb24"
    )

    def finish(buf):
        x = (buf if isinstance(buf, np.ndarray) else spdl.io.to_numpy(buf)).reshape(224, 224, 3)
        return np.ascontiguousarray(((x - mean) * inv_std).transpose(2, 0, 1))

    from PIL import Image

    def pil_rgb24(i, desc):  # files FFmpeg cannot read (its CMYK JPEGs): Pillow, as simply
        im = Image.open(io.BytesIO(datas[i])).convert("RGB")
        if desc is eval_desc:
            scale = 256 / min(im.size)
            im = im.resize(
                (max(224, round(im.width * scale)), max(224, round(im.height * scale))),
                Image.BILINEAR,
            )
            left, top = (im.width - 224) // 2, (im.height - 224) // 2
            im = im.crop((left, top, left + 224, top + 224))
        else:
            im = im.resize((224, 224), Image.BILINEAR)
        return np.asarray(im)

    def load(i, desc):
        if i in fallback:
            return pil_rgb24(i, desc)
        return spdl.io.load_image(datas[i], filter_desc=desc)

    def train(i):
        return finish(load(i, train_desc()))

    def evaluate(i):
        return finish(load(i, eval_desc))

    fallback = set()
    for i, d in enumerate(datas):  # FFmpeg's libraries load on first use: fail here
        try:
            spdl.io.load_image(d, filter_desc=eval_desc)
        except RuntimeError:
            fallback.add(i)
    if len(fallback) > len(datas) // 10:
        raise RuntimeError(f"SPDL cannot read {len(fallback)} of {len(datas)} files")
    pool = ThreadPoolExecutor(threads) if threads > 1 else None
    n = len(datas)
    version = getattr(spdl, "__version__", None)
    if version is None:
        from importlib.metadata import version as dist_version

        version = dist_version("spdl_io")
    return (
        {
            "spdl_train": over(n, train, threads, chunk, pool),
            "spdl_eval": over(n, evaluate, threads, chunk, pool),
        },
        {
            "version": f"SPDL {version} (FFmpeg filter graph"
            + (f"; {len(fallback)} CMYK files it cannot read: Pillow)" if fallback else ")")
        },
    )


def torch_dataloader_image(paths, workers=1, batch=32, seed=0):
    """torch DataLoader epochs (persistent workers, ``workers`` processes) with the
    torchvision training recipe: ``dl_tv_io`` (torchvision.io + v2) and ``dl_tv_pil``
    (torchvision + PIL); each contender is one chunk = one epoch. ``info`` holds each
    loader's start-up seconds (worker spawn to the first batch), not in the rate."""
    import time

    import torch
    import torchvision
    from PIL import Image
    from torchvision import transforms as T
    from torchvision.io import ImageReadMode, decode_jpeg
    from torchvision.transforms import v2

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    datas = _read(paths)
    m, s = [v / 255 for v in IMAGENET_MEAN], [v / 255 for v in IMAGENET_STD]
    v2_train = v2.Compose(
        [
            v2.RandomResizedCrop(224, antialias=True),
            v2.RandomHorizontalFlip(),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(m, s),
        ]
    )
    pil_train = T.Compose(
        [T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(m, s)]
    )

    class Files(torch.utils.data.Dataset):
        def __init__(self, decode):
            self.decode = decode

        def __len__(self):
            return len(datas)

        def __getitem__(self, i):
            return self.decode(datas[i]), 0

    def io_item(d):
        return v2_train(
            decode_jpeg(torch.frombuffer(bytearray(d), dtype=torch.uint8), mode=ImageReadMode.RGB)
        )

    def pil_item(d):
        return pil_train(Image.open(io.BytesIO(d)).convert("RGB"))

    def one_thread(_):
        torch.set_num_threads(1)

    info = {
        "version": f"torchvision {torchvision.__version__}, torch {torch.__version__}",
        "startup_s": {},
    }
    contenders = {}
    keep = []
    for name, item in (("dl_tv_io", io_item), ("dl_tv_pil", pil_item)):
        dl = torch.utils.data.DataLoader(
            Files(item),
            batch_size=batch,
            shuffle=True,
            num_workers=workers,
            persistent_workers=workers > 0,
            drop_last=False,
            worker_init_fn=one_thread,
        )
        t0 = time.perf_counter()
        it = iter(dl)
        next(it)
        info["startup_s"][name] = time.perf_counter() - t0
        for _ in it:  # finish the first epoch (its rate includes the start-up: not timed)
            pass
        keep.append(dl)

        def epoch(dl=dl):
            for _ in dl:
                pass

        contenders[name] = [epoch]
    return contenders, info


def _logmel_torch(torch, mel):
    def logmel(t):
        y = torch.empty_like(t)
        y[0] = 0.03 * t[0]
        y[1:] = t[1:] - 0.97 * t[:-1]
        lm = torch.log(torch.clamp(mel(y), min=1e-20))
        m = lm.mean(dim=1, keepdim=True)
        sd = lm.std(dim=1, keepdim=True, unbiased=False)
        return (lm - m) / sd

    return logmel


def torchaudio_audio(paths, threads=1, seed=0):
    """torchaudio on the clips: ``ta_melspec`` (MelSpectrogram 512/320/160, 80 slaney mels
    + the same pre-emphasis, log and per-feature normalisation as fastload's log_mel, no
    dither on either side), ``ta_fbank`` (``compliance.kaldi.fbank``, 80 bins, 20/10 ms,
    no dither) and ``ta_rnnt`` (the RNN-T train chain composed of torchaudio and torch
    ops: soundfile decode, ``torchaudio.functional.resample`` speed perturbation,
    energy trim, dither 1e-5, the MelSpectrogram log-mel, FrequencyMasking x2 (20) +
    TimeMasking x10 (3 %), stack 3 / subsample 3)."""
    import soundfile
    import torch
    import torchaudio
    import torchaudio.compliance.kaldi as kaldi

    torch.set_num_threads(max(1, threads))
    datas = _read(paths)
    signals = [torch.from_numpy(soundfile.read(io.BytesIO(d), dtype="float32")[0]) for d in datas]
    mel = torchaudio.transforms.MelSpectrogram(
        sample_rate=16000,
        n_fft=512,
        win_length=320,
        hop_length=160,
        n_mels=80,
        window_fn=torch.hann_window,
        power=2.0,
        norm="slaney",
        mel_scale="slaney",
        center=True,
        pad_mode="reflect",
    )
    logmel = _logmel_torch(torch, mel)
    fmask = torchaudio.transforms.FrequencyMasking(20)

    def fbank(t):
        return kaldi.fbank(
            t[None],
            num_mel_bins=80,
            frame_length=20.0,
            frame_shift=10.0,
            dither=0.0,
            window_type="hanning",
            sample_frequency=16000.0,
        )

    rng = np.random.default_rng(seed)
    speeds = [round(100 * rng.uniform(0.85, 1.15)) for _ in datas]  # percent, see below

    def trim(t, window=2048):
        w = min(window, len(t))
        c = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(t.double() ** 2, 0)])
        mms = (c[w:] - c[:-w]) / w
        idx = torch.nonzero(mms >= mms.max() * 1e-6)[:, 0]
        return t[int(idx[0]) : int(idx[-1]) + w] if len(idx) else t

    def rnnt(i):
        x, sr = soundfile.read(io.BytesIO(datas[i]), dtype="float32")
        t = torch.from_numpy(x)
        # speed s quantised to 1 % so resample's kernel is 100 x s phases (an arbitrary
        # ratio would make torchaudio build a kernel of 16000 phases)
        t = torchaudio.functional.resample(t, 100, speeds[i])
        t = trim(t)
        t = t + 1e-5 * torch.randn(len(t))
        f = logmel(t)
        f = fmask(fmask(f[None]))[0]
        tm = torchaudio.transforms.TimeMasking(max(1, round(0.03 * f.shape[1])))
        g = f[None]
        for _ in range(10):
            g = tm(g)
        f = g[0]
        n_feat, n_t = f.shape
        pad = torch.nn.functional.pad(f, (0, 2))
        stacked = torch.cat([pad[:, 0:n_t], pad[:, 1 : n_t + 1], pad[:, 2 : n_t + 2]], dim=0)
        return stacked[:, ::3].T.contiguous()

    n = len(signals)
    contenders = {  # one chunk per clip
        "ta_melspec": [lambda t=t: logmel(t) for t in signals],
        "ta_fbank": [lambda t=t: fbank(t) for t in signals],
        "ta_rnnt": [lambda i=i: rnnt(i) for i in range(n)],
    }
    return contenders, {
        "version": f"torchaudio {torchaudio.__version__}, torch {torch.__version__}"
    }
