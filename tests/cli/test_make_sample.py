"""``fastload make-sample``: synthetic raw data in the real layout, ready for ``build``."""

import fastload
from fastload.cli import main


def test_make_sample_then_build(tmp_path, capsys):
    raw = tmp_path / "raw"
    assert main(["make-sample", "librispeech", str(raw), "--size", "1"]) == 0
    out = capsys.readouterr().out
    assert f"fastload build librispeech {raw} OUT" in out
    assert sorted(p.name for p in raw.iterdir()) == ["dev-clean", "train-clean-100"]
    assert main(["make-sample", "librispeech", str(raw)]) == 2  # not empty: refused
    assert "exists and is not empty" in capsys.readouterr().err
    status = main(["build", "librispeech", str(raw), str(tmp_path / "ds"), "--workers", "0",
                   "--quiet", "--on-error", "skip"])  # fmt: skip
    assert status == 0
    assert len(fastload.open_dataset(tmp_path / "ds")) > 0
