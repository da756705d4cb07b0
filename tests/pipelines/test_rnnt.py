"""fastload.pipelines.rnnt: the RNN-T feature transforms end to end."""

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fastload.audio import (
    SpecAugment,
    decode,
    log_mel,
    nonsilent_region,
    resample,
    speed_target_rate,
    stack_frames,
)
from fastload.errors import DecodeError, LimitError
from fastload.pipelines import rnnt_eval, rnnt_train
from fastload.testing.data.librispeech import encode_audio, make_librispeech, speech_like


@pytest.fixture(scope="module")
def flac():
    return encode_audio(speech_like(3.0, 11), 16000)


def sample(data, **extra):
    return {"audio": data, "transcript": "hello world", "utterance": "1-2-0003", **extra}


def test_train_output_contract(flac):
    out = rnnt_train()(sample(memoryview(flac)), np.random.default_rng(0))
    f = out["features"]
    assert f.dtype == np.float32 and f.ndim == 2 and f.shape[1] == 240
    assert out["features_length"] == f.shape[0] and isinstance(out["features_length"], int)
    assert out["transcript"] == "hello world" and out["utterance"] == "1-2-0003"
    assert "audio" not in out
    assert list(out)[-2:] == ["features", "features_length"]
    assert np.isfinite(f).all()


def test_train_equals_manual_chain(flac):
    rng = np.random.default_rng(42)
    got = rnnt_train()(sample(flac), rng)["features"]
    rng = np.random.default_rng(42)
    x, sr = decode(flac, mono=True)
    s = rng.uniform(0.85, 1.15)
    x = resample(x, sr, speed_target_rate(16000, s), antialias=False)  # float32 rate, as DALI
    b, n = nonsilent_region(x)
    x = x[b : b + n]
    feats = log_mel(x, dither=1e-5, rng=rng)
    SpecAugment.apply_inplace(feats, SpecAugment().sample_params(rng, feats))
    want = stack_frames(feats)
    np.testing.assert_array_equal(got, want)
    assert got.shape[0] == math.ceil((n // 160 + 1) / 3)


def test_eval_is_unperturbed(flac):
    out = rnnt_eval()(sample(flac), np.random.default_rng(0))
    x, _ = decode(flac)
    b, n = nonsilent_region(x)
    want = stack_frames(log_mel(x[b : b + n], dither=1e-5, rng=np.random.default_rng(0)))
    np.testing.assert_array_equal(out["features"], want)


def test_reproducible_per_rng(flac):
    t = rnnt_train()
    a = t(sample(flac), np.random.default_rng(3))["features"]
    b = t(sample(flac), np.random.default_rng(3))["features"]
    c = t(sample(flac), np.random.default_rng(4))["features"]
    np.testing.assert_array_equal(a, b)
    assert a.shape != c.shape or not np.array_equal(a, c)


def test_other_rates_channels_and_pcm():
    rng = np.random.default_rng(0)
    st = np.stack([speech_like(1.0, rng, 44100)] * 2, axis=1)
    wav = encode_audio(st, 44100, format="WAV", subtype="PCM_24")
    out = rnnt_eval()(sample(wav), np.random.default_rng(0))
    n16 = math.ceil(44100 * 16000 / 44100)
    assert out["features_length"] <= math.ceil((n16 // 160 + 1) / 3)
    pcm = np.round(speech_like(1.0, 1) * 32767).astype(np.int16)
    out = rnnt_train()(sample(pcm, sample_rate=16000), np.random.default_rng(0))
    assert out["features"].shape[1] == 240


def test_max_duration_raises(flac):
    with pytest.raises(LimitError, match="1-2-0003"):
        rnnt_train(max_duration=2.0)(sample(flac), np.random.default_rng(0))
    rnnt_train(max_duration=None)(sample(flac), np.random.default_rng(0))
    rnnt_eval()(sample(flac), np.random.default_rng(0))  # eval has no limit


def test_nvidia_uses_predrawn_speed(flac):
    t = rnnt_train(preset="nvidia", spec_augment=False)
    a = t(sample(flac, speed=1.1), np.random.default_rng(0))
    b = t(sample(flac, speed=1.1), np.random.default_rng(9))
    x, _ = decode(flac)
    y = resample(x, 16000, 17600, antialias=False)
    b_, n_ = nonsilent_region(y)
    assert a["features_length"] == b["features_length"] == math.ceil((n_ // 160 + 1) / 3)


def test_silence_and_bad_input():
    silent = encode_audio(np.zeros(8000, np.float32), 16000)
    out = rnnt_train()(sample(silent), np.random.default_rng(0))
    assert np.isfinite(out["features"]).all()
    with pytest.raises(DecodeError, match="1-2-0003"):
        rnnt_train()(sample(b"RIFF not really a wav file"), np.random.default_rng(0))
    with pytest.raises(DecodeError):
        rnnt_eval()(sample(b""), np.random.default_rng(0))


def test_threads_identical():
    clips = [encode_audio(speech_like(1.0 + 0.3 * i, i), 16000) for i in range(6)]
    t = rnnt_train()
    serial = [t(sample(c), np.random.default_rng(i))["features"] for i, c in enumerate(clips)]
    with ThreadPoolExecutor(3) as pool:
        par = list(
            pool.map(
                lambda a: t(sample(a[1]), np.random.default_rng(a[0]))["features"], enumerate(clips)
            )
        )
    for a, b in zip(serial, par, strict=False):
        np.testing.assert_array_equal(a, b)


def test_make_librispeech_layout(tmp_path):
    root = make_librispeech(
        tmp_path, subsets=("dev-clean",), speakers=1, utterances=2, min_s=1.0, max_s=1.5
    )
    flacs = sorted(root.rglob("*.flac"))
    trans = list(root.rglob("*.trans.txt"))
    assert len(flacs) == 2 and len(trans) == 1
    spk, ch = flacs[0].parent.parent.name, flacs[0].parent.name
    assert flacs[0].name.startswith(f"{spk}-{ch}-") and trans[0].name == f"{spk}-{ch}.trans.txt"
    lines = trans[0].read_text().splitlines()
    assert [ln.split()[0] for ln in lines] == [f.stem for f in flacs]
    assert all(w.isupper() for ln in lines for w in ln.split()[1:])
    x, sr = decode(flacs[0].read_bytes())
    assert sr == 16000 and 1.0 <= len(x) / sr <= 1.5
    again = make_librispeech(
        tmp_path / "b", subsets=("dev-clean",), speakers=1, utterances=2, min_s=1.0, max_s=1.5
    )
    assert (again / flacs[0].relative_to(root)).read_bytes() == flacs[0].read_bytes()


def test_through_loader_threads_identical():
    from fastload.loader import Loader
    from fastload.loader.collate import Collate

    data = [
        {
            "audio": encode_audio(speech_like(0.6 + 0.25 * i, 100 + i), 16000),
            "transcript": f"utt {i}",
        }
        for i in range(6)
    ]
    t = rnnt_train()
    runs = []
    for threads in (1, 2):
        loader = Loader(
            data,
            transform=t,
            batch_size=3,
            shuffle=True,
            seed=5,
            num_threads=threads,
            collate=Collate(pad=t.collate_pad),
        )
        runs.append(list(loader))
    for a, b in zip(*runs, strict=False):
        assert a["features"].shape[0] == 3 and a["features"].shape[2] == 240
        np.testing.assert_array_equal(a["features"], b["features"])
        np.testing.assert_array_equal(a["features_length"], b["features_length"])
        assert a["features"].shape[1] == a["features_length"].max()
        assert list(a["transcript"]) == list(b["transcript"])


def test_batch_level_spec_augment_path(flac):
    from fastload.audio import spec_augment_batch, stack_frames_batch

    t = rnnt_train(spec_augment=False, stack=1, subsample=1)
    a = t(sample(flac), np.random.default_rng(0))
    b = t(sample(encode_audio(speech_like(1.2, 3), 16000)), np.random.default_rng(1))
    assert a["features"].shape[1] == 80
    lengths = np.array([a["features_length"], b["features_length"]])
    batch = np.zeros((2, lengths.max(), 80), np.float32)
    batch[0, : lengths[0]] = a["features"]
    batch[1, : lengths[1]] = b["features"]
    spec_augment_batch(batch, lengths, np.random.default_rng(2))
    stacked, new = stack_frames_batch(batch, lengths)
    assert stacked.shape == (2, -(-lengths.max() // 3), 240)
    assert list(new) == [-(-n // 3) for n in lengths]


def test_long_input_uses_temporary_buffers(flac, monkeypatch):
    from fastload.pipelines import rnnt

    want = rnnt_train()(sample(flac), np.random.default_rng(8))["features"]
    monkeypatch.setattr(rnnt, "_MAX_CACHED", 100)
    got = rnnt_train()(sample(flac), np.random.default_rng(8))["features"]
    np.testing.assert_array_equal(got, want)


def test_nvidia_predrawn_speeds_through_dataset_view(flac):
    from fastload.pipelines.rnnt import WithSpeed, draw_speeds

    s0 = draw_speeds(500, seed=1, epoch=0)
    assert np.array_equal(s0, draw_speeds(500, seed=1, epoch=0))
    assert not np.array_equal(s0, draw_speeds(500, seed=1, epoch=1))
    assert s0.min() >= 0.85 and s0.max() < 1.15
    data = [sample(flac), sample(flac)]
    view = WithSpeed(data, [0.9, 1.1])
    assert len(view) == 2 and view[1]["speed"] == 1.1 and "speed" not in data[1]
    t = rnnt_train(preset="nvidia")
    a = t(view[0], np.random.default_rng(0))["features_length"]
    b = t(view[1], np.random.default_rng(0))["features_length"]
    assert a < b  # slower (s = 1.1) -> longer
    with pytest.raises(ValueError):
        WithSpeed(data, [1.0])


def test_select_duration(tmp_path):
    import fastload
    from fastload.pipelines.rnnt import select_duration

    with fastload.ShardWriter(tmp_path / "ds") as w:
        for i, d in enumerate([3.0, 16.7, 16.8, 20.0, 1.0]):
            w.write({"utterance": f"u{i}", "duration": d})
    ds = fastload.open_dataset(tmp_path / "ds")
    kept = select_duration(ds, 16.7)
    assert [kept[i]["utterance"] for i in range(len(kept))] == ["u0", "u1", "u4"]
