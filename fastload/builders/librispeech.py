"""LibriSpeech folders -> shards.

Layout under ``src``: ``<subset>/<speaker>/<chapter>/<spk>-<ch>-<utt>.flac`` with one
``<spk>-<ch>.trans.txt`` per chapter (lines ``<utt id> <TRANSCRIPT>``).

Columns: ``audio`` (the original FLAC bytes, or int16 PCM samples with ``pcm=True``),
``transcript`` (lower-cased and stripped, as the MLPerf reference writes it),
``duration`` (seconds), ``sample_rate``, ``speaker``, ``chapter``, ``utterance`` (the id
``spk-ch-utt``), ``subset``.

The reference's duration filter (``original_duration <= max_duration``, 16.7 s) applies to
training subsets (names starting with ``train``) only; the manifest records how many
utterances it removed. Dev/test subsets keep every utterance.
"""

from dataclasses import dataclass
from pathlib import Path

from fastload.builders.engine import check_source, run_build
from fastload.errors import DecodeError, SourceError

__all__ = ["build_librispeech", "list_librispeech"]


@dataclass(frozen=True)
class Utterance:
    path: str
    utterance: str
    transcript: str
    subset: str

    def __str__(self):
        return self.path


def list_librispeech(src, subsets=None):
    """Sorted utterances of the given subsets (all subset folders when None)."""
    src = Path(src)
    if subsets is None:
        subsets = sorted(p.name for p in src.iterdir() if p.is_dir())
    items = []
    for subset in subsets:
        root = src / subset
        if not root.is_dir():
            found = ", ".join(sorted(p.name for p in src.iterdir() if p.is_dir())) or "none"
            raise SourceError(f"{root}: subset folder not found (found: {found})")
        for trans in sorted(root.glob("*/*/*.trans.txt")):
            for line in trans.read_text(encoding="utf-8").splitlines():
                if not line.strip():
                    continue
                utt, _, text = line.partition(" ")
                audio = trans.parent / f"{utt}.flac"
                items.append(Utterance(str(audio), utt, text.strip().lower(), subset))
    return items


@dataclass(frozen=True)
class UtteranceEncoder:
    """One Utterance -> record; decodes the audio once to validate it."""

    max_duration: float | None = 16.7
    pcm: bool = False

    def __call__(self, item):
        import numpy as np

        from fastload import audio

        path = Path(item.path)
        if not path.exists():
            raise DecodeError(f"{path}: listed in the transcript file but missing")
        data = path.read_bytes()
        samples, rate = audio.decode(data)
        duration = samples.shape[0] / rate
        if (
            self.max_duration is not None
            and item.subset.startswith("train")
            and duration > self.max_duration
        ):
            return None
        speaker, chapter, _ = item.utterance.split("-")
        if self.pcm:
            mono = samples if samples.ndim == 1 else samples.mean(axis=1)
            payload = np.clip(np.round(mono * 32768.0), -32768, 32767).astype(np.int16)
        else:
            payload = data
        return {
            "audio": payload,
            "transcript": item.transcript,
            "duration": float(duration),
            "sample_rate": int(rate),
            "speaker": int(speaker),
            "chapter": int(chapter),
            "utterance": item.utterance,
            "subset": item.subset,
        }


def build_librispeech(
    src,
    out,
    *,
    subsets=None,
    max_duration=16.7,
    pcm=False,
    samples_per_shard=1024,
    workers=None,
    engine="local",
    address=None,
    on_error="skip",
    progress=None,
):
    """Build LibriSpeech shards; returns a :class:`fastload.builders.engine.BuildResult`."""
    check_source(src, out, samples_per_shard=samples_per_shard)
    items = list_librispeech(src, subsets)
    if not items:
        raise SourceError(f"{src}: no utterances (<subset>/<spk>/<ch>/*.trans.txt) found")
    metadata = {
        "dataset": "librispeech",
        "subsets": sorted({u.subset for u in items}),
        "max_duration": max_duration,
        "duration_filter": "original duration <= max_duration, training subsets only",
        "audio_format": "pcm_s16" if pcm else "flac",
    }
    return run_build(
        items,
        UtteranceEncoder(max_duration=max_duration, pcm=pcm),
        out,
        samples_per_part=samples_per_shard,
        workers=workers,
        engine=engine,
        address=address,
        on_error=on_error,
        metadata=metadata,
        index_by="subset",
        progress=progress,
    )
