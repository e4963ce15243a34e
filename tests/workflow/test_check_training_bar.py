"""workflow/scripts/check_training_bar.py on hand-written training and evaluation outputs in the real file layout:
verdicts, exit codes, which time counts."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys

import pytest

from helpers import REPO

spec = importlib.util.spec_from_file_location("check_training_bar", REPO / "workflow" / "scripts" / "check_training_bar.py")
bar = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = bar  # dataclasses look their module up there
spec.loader.exec_module(bar)

DATASETS = ("falling_objects", "tbd3d", "tbd")
IMAGE = {"psnr": 17.0, "ssim": 0.60, "tiou": None}
RATIO = {"median": 1.0, "q25": 0.85, "q75": 1.15}
REFERENCE = "results/reference/streak"


def write_val(root, approach, model_db, train_seconds, wall_seconds=None, iou=0.75, ratio=RATIO, base="results"):
    metrics = root / base / "train" / "metrics"
    metrics.mkdir(parents=True, exist_ok=True)
    record = {"scale": "cpu", "steps": 10, "train_seconds": train_seconds,
              "psnr": {"model": model_db, "model_projected": model_db + 1, "image": 27.0, "background": 24.0},
              "shape": {"mask_iou": iou, "length_ratio": ratio, "subframes": 80, "skipped": 0}}
    (metrics / f"{approach}.json").write_text(json.dumps(record))
    if wall_seconds is not None:
        tsv = root / "results" / "train" / "timing" / f"train_{approach}.tsv"
        tsv.parent.mkdir(parents=True, exist_ok=True)
        tsv.write_text(f"s\th:m:s\n{wall_seconds}\t0:00:00\n")


def write_eval(root, dataset, method, psnr, ssim, tiou, window=50, name=None, iou=0.7, ratio=RATIO, bounce=None,
               base="results"):
    """``<base>/evaluate/metrics/<dataset>/<method>.json`` as ``evaluate`` writes it (main background window);
    ``bounce``: (PSNR, SSIM) over 5 bounce frames (none without)."""
    path = root / base / "evaluate" / "metrics" / dataset / (name or f"{method}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = {"mask_iou": iou, "length_ratio": ratio} if tiou is not None else {"mask_iou": None, "length_ratio": None}
    record = {"background_window": window, "data_source": "embedded", "dataset": dataset, "device": "cpu",
              "frames": 20, "method": method, "psnr": psnr, "psnr_proj": psnr, "quoted": False,
              "seconds_per_frame": 0.01, "sequences": 2, "ssim": ssim, "ssim_proj": ssim, "tiou": tiou, **shape,
              "bounce": {"frames": 0} if bounce is None else {"frames": 5, "psnr": bounce[0], "ssim": bounce[1]}}
    path.write_text(json.dumps(record))


def write_curve(root, tail_dt, steps=100):
    """``results/train/plots/proposed.csv``: dt at chance early, ``tail_dt`` over the last 10 steps, some empty."""
    path = root / "results" / "train" / "plots" / "proposed.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["step,epoch,lr_g,F,I,T,S,L,G,N,C,total,ds,dt,seconds,val_model,val_projected,val_image,val_background"]
    for step in range(1, steps + 1):
        dt = "" if step % 7 == 0 else (tail_dt if step > 0.9 * steps else 0.693)
        lines.append(f"{step},0,0.001,1.0,0.3,,,,-0.09,0.69,,2.0,0.001,{dt},0.5,,,,")
    path.write_text("\n".join(lines) + "\n")


def write_all(root, margin_db=1.2, ssim=0.70, tiou=0.7, tail_dt=0.5, reference=True):
    """A met bar; with ``reference``, a reference run 0.15 below in IoU and 0.1 dB above in PSNR."""
    shutil.copy(REPO / "params.yaml", root / "params.yaml")  # the main window: evaluate.background_window (50)
    write_val(root, "defmo", 27.0 + margin_db, 300.0, 330.0)
    write_val(root, "proposed", 27.0 + margin_db, 400.0, 420.0)
    for dataset in DATASETS:
        bounce = (19.0, 0.7) if dataset == "tbd3d" else None
        write_eval(root, dataset, "image", **IMAGE, bounce=None if bounce is None else (18.0, 0.6))
        write_eval(root, dataset, "image", 30.0, 0.9, None, window=5, name="image_w5.json")  # a variant: not read
        for approach in ("defmo", "proposed"):
            write_eval(root, dataset, approach, 18.0, ssim, tiou, bounce=bounce)
            if reference:
                write_eval(root, dataset, approach, 18.1, ssim, tiou, iou=0.55, base=REFERENCE)
    for approach in ("defmo", "proposed") if reference else ():
        write_val(root, approach, 27.5, 300.0, iou=0.6, base=REFERENCE)
    write_curve(root, tail_dt)


def run(root, capsys, *extra):
    code = bar.main(["--root", str(root), *extra])
    return code, capsys.readouterr()


def test_met(tmp_path, capsys):
    write_all(tmp_path)
    code, out = run(tmp_path, capsys)
    assert code == 0, out.out
    assert "total training time 12.5 min (limit 30)" in out.out and out.out.rstrip().endswith("BAR MET")
    assert "margin +1.20 dB (required >= 1)" in out.out
    assert "mask IoU 0.750 (required >= 0.700; reference 0.600)" in out.out  # validation: reference + 0.1
    assert "mask IoU 0.700 (required >= 0.650; reference 0.550)" in out.out  # benchmark
    assert "PSNR vs reference 18.10 dB: -0.10 (>= -0.3)" in out.out
    assert "tbd3d bounce frames (5): PSNR 19.00 vs image 18.00 dB" in out.out
    assert "mean dt 0.500 over the last" in out.out and "(w=50)" in out.out
    assert "after the blatting projection: 29.20 dB, margin +2.20 dB (reported only)" in out.out


def test_not_met_when_val_margin_is_0_3_db(tmp_path, capsys):
    write_all(tmp_path, margin_db=0.3)
    code, out = run(tmp_path, capsys)
    assert code == 1 and "margin +0.30 dB" in out.out and out.out.rstrip().endswith("BAR NOT MET")
    assert run(tmp_path, capsys, "--margin-db", "0.25")[0] == 0


def test_shape_bars(tmp_path, capsys):
    """Validation IoU under 0.67, or under the reference + 0.1, or a length ratio's IQR leaving [0.75, 1.33],
    fails; so does a benchmark IoU under the reference's + 0.1."""
    write_all(tmp_path)
    write_val(tmp_path, "defmo", 28.2, 300.0, 330.0, iou=0.66)
    assert run(tmp_path, capsys)[0] == 1
    write_all(tmp_path)
    write_val(tmp_path, "defmo", 28.2, 300.0, 330.0, iou=0.68, ratio={"median": 1.0, "q25": 0.7, "q75": 1.1})
    code, out = run(tmp_path, capsys)
    assert code == 1 and "length ratio 1.00 [0.70, 1.10]" in out.out
    write_all(tmp_path)
    write_val(tmp_path, "proposed", 28.2, 300.0, 330.0, iou=0.69)  # >= 0.67 but under the reference 0.6 + 0.1
    assert run(tmp_path, capsys)[0] == 1
    write_all(tmp_path)
    write_eval(tmp_path, "tbd", "defmo", 18.0, 0.7, 0.7, iou=0.62)
    assert run(tmp_path, capsys)[0] == 1


def test_benchmark_psnr_may_not_drop_below_the_reference_and_bounce_frames_must_beat_image(tmp_path, capsys):
    write_all(tmp_path)
    write_eval(tmp_path, "falling_objects", "proposed", 18.5, 0.7, 0.7, iou=0.55, base=REFERENCE)
    code, out = run(tmp_path, capsys)
    assert code == 1 and "-0.50 (>= -0.3)" in out.out
    write_all(tmp_path)
    write_eval(tmp_path, "tbd3d", "defmo", 18.0, 0.7, 0.7, bounce=(17.5, 0.7))
    code, out = run(tmp_path, capsys)
    assert code == 1 and "tbd3d bounce frames (5): PSNR 17.50 vs image 18.00 dB" in out.out


def test_without_a_reference_run_its_comparisons_are_skipped(tmp_path, capsys):
    write_all(tmp_path, reference=False)
    code, out = run(tmp_path, capsys)
    assert code == 0 and "no reference run at" in out.out and "no reference PSNR" in out.out


def test_not_met_when_ssim_below_image_on_one_dataset(tmp_path, capsys):
    write_all(tmp_path)
    write_eval(tmp_path, "tbd3d", "proposed", 18.0, 0.55, 0.7)
    code, out = run(tmp_path, capsys)
    assert code == 1 and out.out.rstrip().endswith("BAR NOT MET")
    failing = [line for line in out.out.splitlines() if line.endswith("FAILS")]
    assert len(failing) == 1 and "proposed tbd3d" in failing[0] and "SSIM 0.550 vs image 0.600" in failing[0]


def test_not_met_when_psnr_below_image(tmp_path, capsys):
    write_all(tmp_path)
    write_eval(tmp_path, "tbd", "defmo", 16.5, 0.7, 0.7)
    assert run(tmp_path, capsys)[0] == 1


def test_not_met_when_dt_tail_mean_is_0_65(tmp_path, capsys):
    write_all(tmp_path, tail_dt=0.65)
    code, out = run(tmp_path, capsys)
    assert code == 1 and "mean dt 0.650" in out.out and out.out.rstrip().endswith("BAR NOT MET")
    assert bar.dt_tail_mean(tmp_path / "results" / "train" / "plots" / "proposed.csv")[1] == 8  # 91 and 98 empty


def test_not_met_when_tiou_is_null_or_nan(tmp_path, capsys):
    write_all(tmp_path, tiou=None)
    code, out = run(tmp_path, capsys)
    assert code == 1 and "TIoU NOT COMPUTED" in out.out
    write_all(tmp_path)
    (tmp_path / "results" / "evaluate" / "metrics" / "tbd" / "defmo.json").write_text(
        json.dumps({"background_window": 50, "psnr": 18.0, "ssim": 0.7, "tiou": float("nan")}))
    assert run(tmp_path, capsys)[0] == 1


def test_not_met_too_slow(tmp_path, capsys):
    write_all(tmp_path)
    write_val(tmp_path, "defmo", 28.2, 1500.0, 1520.0)  # 25.3 + 7.0 min > 30
    code, out = run(tmp_path, capsys)
    assert code == 1 and "TOO SLOW" in out.out
    assert run(tmp_path, capsys, "--limit-min", "35")[0] == 0


def test_window_argument_reads_the_variant(tmp_path, capsys):
    write_all(tmp_path)
    for dataset in DATASETS:
        for approach in ("defmo", "proposed"):
            write_eval(tmp_path, dataset, approach, 20.0, 0.8, 0.6, window=5, name=f"{approach}_w5.json")
            write_eval(tmp_path, dataset, approach, 20.0, 0.8, 0.6, window=5, name=f"{approach}_w5.json", iou=0.5,
                       base=REFERENCE)
    code, out = run(tmp_path, capsys, "--window", "5")
    assert code == 1 and "(w=5)" in out.out and "PSNR 20.00 vs image 30.00" in out.out  # image_w5 is 30 dB


def test_a_resumed_rule_run_does_not_hide_the_training_time(tmp_path):
    write_val(tmp_path, "defmo", 27.5, 434.5, 6.8)  # the last rule run only resumed a finished training
    seconds, source = bar.wall_seconds(tmp_path, "defmo", json.loads(
        (tmp_path / "results" / "train" / "metrics" / "defmo.json").read_text()))
    assert seconds == pytest.approx(434.5) and "resumed" in source
    write_val(tmp_path, "defmo", 27.5, 434.5, 450.0)  # an uninterrupted run: its wall time counts
    assert bar.wall_seconds(tmp_path, "defmo", {"train_seconds": 434.5})[0] == pytest.approx(450.0)


@pytest.mark.parametrize("missing, command", [
    ("results/train/metrics/defmo.json", "snakemake --cores all train"),
    ("results/evaluate/metrics/tbd/image.json", "snakemake --cores all evaluate"),
    ("results/evaluate/metrics/falling_objects/proposed.json", "snakemake --cores all evaluate"),
    ("results/train/plots/proposed.csv", "snakemake --cores all train"),
])
def test_missing_file_exits_2(tmp_path, capsys, missing, command):
    write_all(tmp_path)
    (tmp_path / missing).unlink()
    code, out = run(tmp_path, capsys)
    assert code == 2 and missing in out.err and command in out.err


def test_nothing_there_exits_2(tmp_path, capsys):
    code, out = run(tmp_path, capsys)
    assert code == 2 and "snakemake --cores all train" in out.err
