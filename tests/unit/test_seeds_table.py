"""The seed table from runs made up here: spreads equal to the records', paired differences equal to the frames'
differences, the verdicts, and the errors that name what to rerun."""

from __future__ import annotations

import json
import statistics
from dataclasses import replace

import numpy as np
import pytest

from defmo.config import load
from defmo.errors import UserError
from defmo.seeds import runs
from defmo.seeds.table import verdict_lines, write_study
from defmo.utils.table_io import to_csv
from conftest import REPO

FRAMES = [("tbd3d", "seq0", k, k % 2) for k in range(6)] + [("tbd", "seq1", k, 0) for k in range(4)]


def _write_run(folder, approach, seed, offset):
    """A run whose every frame's PSNR is 20 + frame + offset (so differences are exactly the offsets)."""
    rng = np.random.default_rng(seed)
    rows = [[d, s, k, b, 20.0 + k + offset, 0.8, 0.5, 0.4 + 0.01 * offset] for d, s, k, b in FRAMES]
    rows += [[runs.VALIDATION, "val", i, 0, 30.0 + offset + rng.normal(0, 0.01), float("nan"), float("nan"), 0.5]
             for i in range(5)]
    frames = folder / f"{approach}_{seed}.csv"
    frames.write_text(to_csv(runs.FRAME_COLUMNS, rows))
    scores = {}
    for name, group in runs.groups(runs.read_frames(frames)).items():
        values = {m: np.array([r[m] for r in group]) for m in runs.METRICS}
        scores[name] = {m: float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else None
                        for m, v in values.items()}
        scores[name]["length_ratio"] = {"median": 1.0 + offset, "q25": 0.9, "q75": 1.1}
    record = folder / f"{approach}_{seed}.json"
    record.write_text(json.dumps({"approach": approach, "seed": seed, "steps": 10, "train_seconds": 1.0,
                                  "scores": scores}))
    return record, frames


@pytest.fixture()
def cfg():
    base = load(REPO / "params.yaml", scale="tiny")
    return replace(base, seeds=replace(base.seeds, approaches=("defmo", "proposed")))


def _study(tmp_path, offsets):
    records, frames = [], []
    for approach, per_seed in offsets.items():
        for seed, offset in enumerate(per_seed):
            r, f = _write_run(tmp_path, approach, seed, offset)
            records.append(r)
            frames.append(f)
    return records, frames


def test_the_table_holds_the_seeds_spread_and_the_paired_difference(tmp_path, cfg):
    offsets = {"defmo": [0.0, 0.2, -0.1], "proposed": [1.0, 1.3, 0.8]}
    records, frames = _study(tmp_path, offsets)
    summary = write_study(records, frames, tmp_path / "seeds", tmp_path / "summary.json", tmp_path / "s.png", cfg)
    tbd = summary["approaches"]["proposed"]["tbd"]["psnr"]
    assert tbd["mean"] == pytest.approx(statistics.mean(21.5 + o for o in offsets["proposed"]))
    assert tbd["std"] == pytest.approx(statistics.stdev(offsets["proposed"]))
    diff = summary["differences"]["proposed"]["tbd3d"]["psnr"]
    assert diff["diff"] == pytest.approx(np.mean(np.subtract(offsets["proposed"], offsets["defmo"])))
    assert diff["lo"] > 0 and diff["seeds"] == 3 and diff["frames"] == 6
    assert summary["differences"]["proposed"]["tbd3d_bounce"]["psnr"]["frames"] == 3  # odd frames bounce
    assert "validation" in summary["approaches"]["defmo"]
    table = (tmp_path / "seeds.md").read_text()
    assert "| tbd | proposed |" in table and "±" in table
    verdicts = (tmp_path / "seeds_verdicts.md").read_text()
    assert "proposed vs defmo, 3 seeds" in verdicts and ": holds in PSNR." in verdicts
    assert "PSNR better on validation, tbd3d, tbd3d_bounce, tbd." in verdicts
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "summary.json").read_text()) == summary


def test_runs_on_different_frames_cannot_be_paired(tmp_path, cfg):
    records, frames = _study(tmp_path, {"defmo": [0.0, 0.0], "proposed": [1.0, 1.0]})
    text = frames[-1].read_text().splitlines()
    frames[-1].write_text("\n".join(text[:-7] + text[-6:]) + "\n")  # one tbd frame lost
    with pytest.raises(ValueError, match="different frames of tbd"):
        write_study(records, frames, tmp_path / "seeds", tmp_path / "summary.json", tmp_path / "s.png", cfg)


def test_a_study_without_the_reference_says_which(tmp_path, cfg):
    records, frames = _study(tmp_path, {"proposed": [1.0, 1.0]})
    with pytest.raises(UserError, match="reference approach 'defmo'"):
        write_study(records, frames, tmp_path / "seeds", tmp_path / "summary.json", tmp_path / "s.png", cfg)


def test_runs_are_paired_seed_by_seed(tmp_path, cfg):
    records, frames = _study(tmp_path, {"defmo": [0.0, 0.0], "proposed": [1.0]})
    r, f = _write_run(tmp_path, "proposed", 5, 1.0)
    with pytest.raises(UserError, match=r"proposed has seeds \[0, 5\], defmo \[0, 1\]"):
        write_study(records + [r], frames + [f], tmp_path / "seeds", tmp_path / "summary.json", tmp_path / "s.png",
                    cfg)


def _summary(psnr_intervals: dict) -> dict:
    diffs = {d: {"psnr": {"diff": (lo + hi) / 2, "lo": lo, "hi": hi}, "mask_iou": None, "ssim": None}
             for d, (lo, hi) in psnr_intervals.items()}
    return {"confidence": 0.95, "seeds": [0, 1, 2], "reference": "defmo", "differences": {"defmo+dt": diffs}}


@pytest.mark.parametrize(("intervals", "said"), [
    ({"tbd": (0.1, 0.5), "tbd3d": (0.2, 0.4)}, "holds in PSNR"),
    ({"tbd": (0.1, 0.5), "tbd3d": (-0.2, 0.4)}, "holds in part in PSNR"),
    ({"tbd": (-0.5, -0.1), "tbd3d": (-0.2, 0.4)}, "does not hold: worse in PSNR"),
    ({"tbd": (0.1, 0.5), "tbd3d": (-0.4, -0.2)}, "mixed in PSNR"),
    ({"tbd": (-0.1, 0.5), "tbd3d": (-0.2, 0.4)}, "not resolved (no difference) in PSNR"),
])
def test_a_claim_s_verdict_follows_the_psnr_intervals(intervals, said):
    line = verdict_lines(_summary(intervals))[0]
    assert line.startswith("- **D_T in place of L_T** (defmo+dt vs defmo, 3 seeds, paired 95% t-interval over seeds)")
    assert f": {said}." in line
