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
from defmo.seeds.stats import detectable_difference
from defmo.seeds.table import write_study
from defmo.seeds.verdicts import PRIMARY, claims, multiplicity, multiplicity_line, verdict_lines
from defmo.utils.table_io import to_csv
from conftest import REPO

FRAMES = [("tbd3d", "seq0", k, k % 2) for k in range(6)] + [("tbd", "seq1", k, 0) for k in range(4)]


def _write_run(folder, approach, seed, offset, fit_offset=None):
    """A run whose every frame's PSNR is 20 + frame + offset as the network alone (so differences are exactly the
    offsets) and 23 + frame + ``fit_offset`` with the fit (default: minus the offset, the opposite direction)."""
    fit_offset = -offset if fit_offset is None else fit_offset
    rng = np.random.default_rng(seed)
    rows = []
    for reading, base, off in ((runs.NETWORK, 0.0, offset), (runs.FIT, 3.0, fit_offset)):
        rows += [[reading, d, s, k, b, 20.0 + base + k + off, 0.8, 0.5, 0.4 + 0.01 * off] for d, s, k, b in FRAMES]
        rows += [[reading, runs.VALIDATION, "val", i, 0, 30.0 + base + off + rng.normal(0, 0.01), float("nan"),
                  float("nan"), 0.5] for i in range(5)]
    frames = folder / f"{approach}_{seed}.csv"
    frames.write_text(to_csv(runs.FRAME_COLUMNS, rows))
    scores = {}
    for reading in runs.READINGS:
        scores[reading] = {}
        for name, group in runs.groups(runs.read_frames(frames), reading).items():
            values = {m: np.array([r[m] for r in group]) for m in runs.METRICS}
            scores[reading][name] = {m: float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else None
                                     for m, v in values.items()}
            scores[reading][name]["length_ratio"] = {"median": 1.0 + offset, "q25": 0.9, "q75": 1.1}
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
    net = summary["readings"]["network"]
    tbd = net["approaches"]["proposed"]["tbd"]["psnr"]
    assert tbd["mean"] == pytest.approx(statistics.mean(21.5 + o for o in offsets["proposed"]))
    assert tbd["std"] == pytest.approx(statistics.stdev(offsets["proposed"]))
    diff = net["differences"]["proposed"]["tbd3d"]["psnr"]
    assert diff["diff"] == pytest.approx(np.mean(np.subtract(offsets["proposed"], offsets["defmo"])))
    assert diff["lo"] > 0 and diff["seeds"] == 3 and diff["frames"] == 6
    assert net["differences"]["proposed"]["tbd3d_bounce"]["psnr"]["frames"] == 3  # odd frames bounce
    assert "validation" in net["approaches"]["defmo"]
    # the with-fit reading is its own: here the opposite direction
    fit_diff = summary["readings"]["fit"]["differences"]["proposed"]["tbd3d"]["psnr"]
    assert fit_diff["diff"] == pytest.approx(-diff["diff"]) and fit_diff["hi"] < 0
    assert summary["claims"]["proposed"]["verdict"] == "supported"  # by the network's validation PSNR
    assert summary["claims"]["proposed"]["interval"] == net["differences"]["proposed"]["validation"]["psnr"]
    table = (tmp_path / "seeds.md").read_text()
    assert "| tbd | proposed |" in table and "±" in table and "PSNR with fit" in table and "Power:" in table
    verdicts = (tmp_path / "seeds_verdicts.md").read_text()
    assert "proposed vs defmo, 3 seeds" in verdicts and "**supported** by the primary metric" in verdicts
    assert "PSNR better on validation, tbd3d, tbd3d_bounce, tbd." in verdicts
    assert "With the fit (second reading)" in verdicts and "Multiplicity:" in verdicts
    first = verdicts.splitlines()[0]  # the README's sentence
    assert first.startswith("Seed study (3 seeds per approach, runs of 10 steps, networks alone, validation PSNR")
    assert "the proposed model): **supported** (+1.00 [+0.75, +1.25] dB)" in first and "are not resolved 80% of the time" in first
    assert (tmp_path / "s.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "summary.json").read_text()) == summary


def test_power_is_the_detectable_difference_of_the_pooled_per_seed_spread(tmp_path, cfg):
    offsets = {"defmo": [0.0, 0.0, 0.0, 0.0], "proposed": [0.5, -0.5, 1.0, -1.0]}
    summary = write_study(*_study(tmp_path, offsets), tmp_path / "seeds", tmp_path / "summary.json",
                          tmp_path / "s.png", cfg)
    tbd = summary["power"]["datasets"]["tbd"]
    assert tbd["sd"] == pytest.approx(statistics.stdev(offsets["proposed"])) and tbd["seeds"] == 4
    assert tbd["detectable"] == pytest.approx(detectable_difference(tbd["sd"], 4))
    assert summary["claims"]["proposed"]["verdict"] == "not shown at this scale"


def test_a_study_scored_without_the_network_reading_is_refused(tmp_path, cfg):
    records, frames = _study(tmp_path, {"defmo": [0.0, 0.0], "proposed": [1.0, 1.0]})
    for record in records:
        data = json.loads(record.read_text())
        data["scores"] = {"fit": data["scores"]["fit"]}
        record.write_text(json.dumps(data))
    with pytest.raises(UserError, match="no network-alone scores"):
        write_study(records, frames, tmp_path / "seeds", tmp_path / "summary.json", tmp_path / "s.png", cfg)


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


def _summary(validation: tuple[float, float], p: float = 0.01) -> dict:
    """A summary whose one claim has the validation PSNR interval ``validation``, judged as the study judges."""
    lo, hi = validation
    interval = {"diff": (lo + hi) / 2, "lo": lo, "hi": hi, "p": p}
    diffs = {"validation": {"psnr": interval, "mask_iou": None, "ssim": None}}
    summary = {"confidence": 0.95, "seeds": [0, 1, 2], "reference": "defmo", "primary": dict(PRIMARY),
               "readings": {"network": {"differences": {"defmo+dt": diffs}}}}
    summary["claims"] = claims(summary)
    summary["power"] = {"power": 0.8, "datasets": {"validation": {"sd": 0.1, "seeds": 3, "detectable": 0.42}}}
    summary["multiplicity"] = multiplicity(summary)
    return summary


@pytest.mark.parametrize(("interval", "said"), [
    ((0.1, 0.5), "supported"),
    ((-0.5, -0.1), "contradicted"),
    ((-0.1, 0.5), "not shown at this scale"),
])
def test_a_claim_s_verdict_follows_the_primary_interval(interval, said):
    lines = verdict_lines(_summary(interval))
    assert lines[0].startswith("- **D_T in place of L_T** (defmo+dt vs defmo, 3 seeds, paired 95% t-interval")
    assert f"**{said}** by the primary metric, the validation PSNR of the network alone" in lines[0]
    assert "validation 0.42" in lines[1]


def test_holm_is_reported_for_a_primary_test_that_does_not_survive_it():
    s = _summary((0.01, 0.5), p=0.04)
    s["readings"]["network"]["differences"]["defmo+ds"] = {
        "validation": {"psnr": {"diff": 0.3, "lo": 0.02, "hi": 0.6, "p": 0.045}, "mask_iou": None, "ssim": None}}
    s["claims"] = claims(s)
    m = multiplicity(s)
    assert m["intervals"] == 2 and len(m["excluding_zero"]) == 2
    assert m["after_holm"] == [] and m["primary_after_holm"] == []  # 0.04 > 0.05 / 2
    assert "2 exclude 0, 0 of them still do after a Holm correction" in multiplicity_line({**s, "multiplicity": m})
