"""`clca judge calibrate`: the labelled set, Cohen's κ against hand computation, the CLI on the embedded model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from clca.jsonl import JsonlStore
from clca.judge.calibrate import CalibrationItem, agreement, cohen_kappa, load_calibration_set
from clca.judge.gate import check_conversation


def test_bundled_set_is_labelled_and_covers_three_cultures() -> None:
    items = load_calibration_set()
    assert len(items) >= 40
    assert len({i.conversation.id for i in items}) == len(items)
    assert all(i.reason.strip() and "\n" not in i.reason for i in items)
    by_culture = Counter((i.conversation.culture, i.labels.cultural_alignment) for i in items)
    for culture in ("DEU", "JPN", "MEX"):
        assert by_culture[(culture, "aligned")] >= 3 and by_culture[(culture, "not aligned")] >= 3
    kinds = Counter((i.labels.quality, i.labels.gate) for i in items)
    assert kinds[("good", "pass")] >= 20 and kinds[("bad", "reject")] >= 9 and kinds[("bad", "pass")] >= 4


def test_gate_defaults_agree_with_every_gate_label() -> None:
    """The gate's thresholds were chosen on this set: it passes every good and every fluent-but-bad conversation
    and rejects every degenerate one."""
    for item in load_calibration_set():
        result = check_conversation(item.conversation)
        assert ("pass" if result.passed else "reject") == item.labels.gate, (item.conversation.id, result.reason)


def test_kappa_matches_hand_computation() -> None:
    # 4 good→good, 2 good→bad, 1 bad→good, 3 bad→bad: p_o = 0.7; p_e = 0.6·0.5 + 0.4·0.5 = 0.5; κ = 0.2/0.5
    pairs = [("good", "good")] * 4 + [("good", "bad")] * 2 + [("bad", "good")] + [("bad", "bad")] * 3
    assert cohen_kappa(pairs) == pytest.approx(0.4)
    assert cohen_kappa([("good", "good")] * 3) is None  # p_e = 1: undefined, not 0 or 1
    assert cohen_kappa([("good", "bad"), ("bad", "good")]) == pytest.approx(-1.0)
    assert cohen_kappa([]) is None
    part = agreement("quality", [*pairs, ("good", None)])
    assert (part.n, part.unjudged, part.accuracy, part.kappa) == (10, 1, 0.7, 0.4)
    assert part.confusion == {"good": {"good": 4, "bad": 2}, "bad": {"good": 1, "bad": 3}}


@pytest.mark.slow
def test_calibrate_cli_on_the_embedded_model(tmp_path) -> None:
    items = load_calibration_set()
    subset = [next(i for i in items if i.conversation.id == cid) for cid in
              ("DEU-good-1", "DEU-deg-1", "JPN-mis-2", "JPN-bad-1", "MEX-good-2", "MEX-deg-2")]
    labelled = tmp_path / "subset.jsonl"
    JsonlStore(labelled, CalibrationItem, key=lambda i: i.conversation.id).append(subset)
    proc = subprocess.run(
        [sys.executable, "-m", "clca.cli.main", "judge", "calibrate", "--model", "embedded", "--mode", "logprob",
         "--labelled", str(labelled), "--out", str(tmp_path / "report.json")],
        capture_output=True, text=True, timeout=600, env={**os.environ, "CLCA_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert proc.returncode == 0, proc.stderr
    assert "accuracy" in proc.stdout and "kappa" in proc.stdout
    report = json.loads((tmp_path / "report.json").read_text())
    parts = {p["part"]: p for p in report["parts"]}
    assert report["conversations"] == 6 and report["mode"] == "logprob"
    assert parts["gate"]["accuracy"] == 1.0 and parts["gate"]["confusion"]["reject"]["reject"] == 2
    assert parts["cultural_alignment"]["n"] + parts["cultural_alignment"]["unjudged"] == 3  # null labels left out
    for p in parts.values():  # every number is what the confusion matrix says
        cells = [(t, q) for t, row in p["confusion"].items() for q, c in row.items() for _ in range(c)]
        assert len(cells) == p["n"]
        assert p["accuracy"] == pytest.approx(sum(t == q for t, q in cells) / len(cells), abs=1e-4)
        kappa = cohen_kappa(cells)
        assert p["kappa"] == (pytest.approx(kappa, abs=1e-4) if kappa is not None else None)
