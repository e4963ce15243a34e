"""``evaluate`` verb: one method on one benchmark dataset (metrics JSON + per-sequence CSV + a figure sample),
or, with ``--aggregate``, Table 3 from those JSONs.

    python -m defmo evaluate --dataset tbd --data data/benchmark/tbd --method proposed \\
        --checkpoint results/train/checkpoints/proposed/final.pt \\
        --output results/evaluate/metrics/tbd/proposed.json --csv results/evaluate/plots/tbd/proposed.csv \\
        --sample results/evaluate/plots/tbd/proposed_sample.npz
    python -m defmo evaluate --aggregate --inputs results/evaluate/metrics/*/*.json --table results/evaluate/tables/table3

Each ``evaluate.background_variants`` window W also writes ``<output stem>_wW.json`` and ``<csv stem>_wW.csv``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from defmo.errors import UserError
from defmo.evaluate import methods, table
from defmo.evaluate.loaders import load_dataset
from defmo.evaluate.outputs import approach_of, is_fitted, is_quoted, variant_path
from defmo.evaluate.protocol import evaluate_sequence, summarize
from defmo.utils.table_io import to_csv
from defmo.settings import Config
from defmo.utils.io import atomic_path, write_json, write_text
from defmo.utils.provenance import Output, digest_label, inherited, table_files
from defmo.utils.runtime import configure_threads, resolve_device

log = logging.getLogger(__name__)
ORIGINAL_SIZE = (240, 320)  # (height, width) of the published DeFMO's network input


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", help="falling_objects | tbd3d | tbd")
    parser.add_argument("--data", type=Path, help="dataset root in the FMO benchmark layout")
    parser.add_argument("--method", help="image | background | original | a trained approach (its network "
                        "alone) | <approach>+fit (the network plus its fit at inference, model.fit_steps)")
    parser.add_argument("--checkpoint", type=Path, help="final.pt of a trained approach")
    parser.add_argument("--output", type=Path, help="metrics JSON (main background window)")
    parser.add_argument("--csv", type=Path, help="per-sequence CSV (main background window)")
    parser.add_argument("--sample", type=Path, help="npz with one frame's crops for the benchmark figure")
    parser.add_argument("--aggregate", action="store_true", help="write Table 3 from --inputs metrics JSONs")
    parser.add_argument("--inputs", nargs="*", type=Path, default=[], help="metrics JSONs (with --aggregate)")
    parser.add_argument("--table", type=Path, help="Table 3 stem, e.g. results/evaluate/tables/table3 (with --aggregate)")


def build_method(name: str, checkpoint: Path | None, cfg: Config):
    """The callable for ``name`` (see :mod:`defmo.evaluate.methods`) and a device label; None when quoted."""
    if name == "image":
        return methods.image_method, "none"
    if name == "background":
        return methods.background_method, "none"
    device = resolve_device(cfg)
    if is_quoted(name, cfg.to_dict()):
        return None, "none"
    if name == "original":
        from defmo.models.original import load_original

        model = load_original(cfg.evaluate.original_weights, device)
        # the published network is scored through the benchmark's own DeFMO wrapper
        return methods.NetworkMethod(model, ORIGINAL_SIZE, cfg.evaluate.oversample, device, "crop"), str(device)
    if checkpoint is None or not checkpoint.is_file():
        raise UserError(f"evaluate --method {name}: checkpoint '{checkpoint}' not found; train it first (`train`)")
    from defmo.models.weights import load_generator

    model, model_cfg = load_generator(checkpoint, device)  # the checkpoint's own config: a plain dict
    fit = is_fitted(name)
    if fit and not getattr(model, "fit_steps", 0):
        raise UserError(f"evaluate --method {name}: {checkpoint} was trained with model.fit_steps 0 (no fit at "
                        f"inference); evaluate --method {approach_of(name)} scores its network")
    return methods.NetworkMethod.of_trained(model, model_cfg, cfg.evaluate, device, fit), str(device)


def _sequence_csv(summary: dict) -> str:
    keys = ["tiou", "psnr", "ssim", "psnr_proj", "ssim_proj", "mask_iou"]
    rows = [[name, s["frames"], *(s[k] for k in keys)] for name, s in summary["sequences"].items()]
    header = ["sequence", "frames", *keys]
    return to_csv(header, rows)


def _save_sample(path: Path, per_sequence: dict[str, list[dict]]) -> None:
    rows = next(iter(per_sequence.values()))
    row = rows[len(rows) // 2]
    image, gt, est, est_proj = row["crops"]
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, image=image, gt=gt, est=est, est_proj=est_proj, frame=row["frame"])


def run_window(seqs, method, window: int, cfg: Config, label: str) -> dict[str, list[dict]]:
    """Evaluate every sequence with background window ``window``; rows per sequence name."""
    out = {}
    for seq in tqdm(seqs, desc=f"{label} w={window}", unit="seq"):
        out[seq.name] = evaluate_sequence(seq, method, window, cfg.evaluate.max_frames)
        log.info("%s %s w=%d: %d frames", label, seq.name, window, len(out[seq.name]))
    return out


def _record(args, cfg: Config, summary: dict, window: int, device: str) -> dict:
    source = "embedded" if cfg.evaluate.datasets[args.dataset] == "embedded" else "real"
    record = {k: v for k, v in summary.items() if k != "sequences"}
    record.update(dataset=args.dataset, method=args.method, background_window=window, data_source=source)
    record.update(quoted=False, device=device, sequences=record.pop("n_sequences"))
    bounce = dict(record["bounce"])  # the bounce frames' summary, keyed like the record
    bounce["sequences"] = bounce.pop("n_sequences")
    record["bounce"] = bounce
    return record


def _check_args(args, cfg: Config) -> None:
    quoted = is_quoted(args.method, cfg.to_dict())
    keys = ("dataset", "method", "output") if quoted else ("dataset", "data", "method", "output", "csv")
    for key in keys:
        if getattr(args, key) is None:
            raise UserError(f"evaluate: --{key} is required (or use --aggregate with --inputs and --table)")


def evaluate(args, cfg: Config) -> int:
    _check_args(args, cfg)
    method, device = build_method(args.method, args.checkpoint, cfg)
    windows = [cfg.evaluate.background_window, *cfg.evaluate.background_variants]
    if method is None:  # quoted numbers: one record, no window variants, CSV or sample
        write_json(args.output, table.quoted_record(args.dataset, windows[0]))
        log.info("original DeFMO: no evaluate.original_weights, wrote the paper's quoted numbers")
        return 0
    seqs = load_dataset(args.data, args.dataset)
    for i, window in enumerate(windows):
        per_seq = run_window(seqs, method, window, cfg, f"{args.dataset}/{args.method}")
        summary = summarize(per_seq)
        json_path = args.output if i == 0 else variant_path(args.output, window)
        csv_path = args.csv if i == 0 else variant_path(args.csv, window)
        write_json(json_path, _record(args, cfg, summary, window, device))
        write_text(csv_path, _sequence_csv(summary))
        if i == 0 and args.sample is not None:
            _save_sample(args.sample, per_seq)
        log.info("%s/%s w=%d: TIoU %s PSNR %.2f SSIM %.3f mask IoU %s, %.3f s/frame (%d bounce frames)",
                 args.dataset, args.method, window, summary["tiou"], summary["psnr"], summary["ssim"],
                 summary["mask_iou"], summary["seconds_per_frame"], summary["bounce"]["frames"])
    return 0


def _table3_outputs(args: argparse.Namespace, cfg: Config) -> list[Output]:
    """Table 3's files, with the device and data of the records it was assembled from."""
    device, data = inherited(args.inputs, "device") or "n/a", inherited(args.inputs, "data") or "not recorded"
    quoted = any(is_quoted(m, cfg.to_dict()) for m in cfg.evaluate.methods)
    stems = [table.table_stem(args.table, which) for which in table.TABLES if which != "quoted" or quoted]
    files = [p for stem in stems for p in table_files(stem)]
    return [Output(p, data, device, tuple(args.inputs)) for p in files]


def _benchmark_data(args: argparse.Namespace, cfg: Config) -> str:
    kind = "embedded synthetic" if cfg.evaluate.datasets[args.dataset] == "embedded" else "real"
    data = f"benchmark dataset {args.dataset} at {Path(args.data).as_posix()} ({kind})"
    return data + (f"; model {digest_label(args.checkpoint)}" if args.checkpoint else "")


def outputs(args: argparse.Namespace, cfg: Config) -> list[Output]:
    """Table 3 (``--aggregate``), or one method's records, CSVs and sample (every background window)."""
    if args.aggregate:
        return _table3_outputs(args, cfg)
    if is_quoted(args.method, cfg.to_dict()):
        return [Output(args.output, "numbers quoted from the DeFMO paper", "n/a (quoted)")]
    device = "n/a (no network)" if args.method in ("image", "background") else None
    variants = [variant_path(p, w) for w in cfg.evaluate.background_variants for p in (args.output, args.csv)]
    data, paths = _benchmark_data(args, cfg), [args.output, args.csv, args.sample, *variants]
    return [Output(p, data, device) for p in paths if p is not None]


def run(args: argparse.Namespace, cfg: Config) -> int:
    configure_threads(cfg)
    if args.aggregate:
        if args.table is None or not args.inputs:
            raise UserError("evaluate --aggregate needs --inputs <metrics JSONs> and --table <stem>")
        table.write_table3(args.inputs, args.table, cfg)
        return 0
    return evaluate(args, cfg)
