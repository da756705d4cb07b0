"""Bench rows say what they are: ratio direction, reference rows, goals, memory, broken peers."""

import sys

from fastload.bench import baseline, memory, optional_import, peer, reference, variant
from fastload.cli.bench import _plot, format_rows


def test_ratio_direction_goal_and_memory():
    rows = [
        reference("op fastload", 200.0),
        peer("op peer", 50.0, 200.0, goal=">= 3"),
        variant("op fastload 2 threads", 300.0, 200.0, goal=">= 1.8"),
        baseline("op floor", 400.0, "ratio = fastload / floor", ratio=0.5, goal=">= 0.9"),
        memory("peak RSS", 91.4, goal="<= 173.5"),
    ]
    assert rows[1]["ratio"] == 4.0 and rows[1]["met"] is True  # fastload / peer
    assert rows[2]["ratio"] == 1.5 and rows[2]["met"] is False  # this / reference
    assert rows[3]["met"] is False and rows[4]["met"] is True
    text = format_rows("op", rows)
    assert "1.00x ref" in text and "4.00x" in text and "goal >= 3: met" in text
    assert "goal >= 1.8: NOT met" in text
    line = [x for x in text.splitlines() if x.startswith("peak RSS")][0]
    assert "91.4 MiB" in line and "/s" not in line and "goal <= 173.5 MiB: met" in line


def test_a_peer_that_fails_to_import_for_any_reason_is_a_row(tmp_path, monkeypatch):
    (tmp_path / "peer_built_for_another_torch.py").write_text(
        "raise RuntimeError('operator torchvision::nms does not exist')\n"
    )
    (tmp_path / "peer_with_missing_dep.py").write_text("import no_such_module_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module, row = optional_import("peer_built_for_another_torch")
    assert module is None and row["kind"] == "broken"
    assert row["name"] == (
        "peer_built_for_another_torch (broken: RuntimeError: operator torchvision::nms "
        "does not exist)"
    )
    _, row = optional_import("peer_with_missing_dep")  # installed, but its own import fails
    assert row["kind"] == "broken" and "no_such_module_xyz" in row["name"]
    _, row = optional_import("not_installed_at_all_xyz")
    assert row["kind"] == "missing" and row["name"] == "not_installed_at_all_xyz (missing)"
    assert "peer_built_for_another_torch" not in sys.modules


def test_plot_draws_peers_only(tmp_path):
    rows = [
        reference("a", 10.0),
        peer("p", 5.0, 10.0),
        baseline("b", 20.0, ratio=0.5),
        memory("m", 3.0),
    ]
    _plot({"x": rows}, tmp_path / "b.png")
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"
