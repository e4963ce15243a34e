"""Helper process for the training tests (not a test module): trains on a seeded in-memory random dataset
through the real loop (sharding, checkpoints, resume), then saves the final network weights and loss rows.

    python tests/unit/train_worker.py --approach defmo --steps 4 --resume-dir D --result R.pt [--bn-eval]
    torchrun --nproc_per_node 2 tests/unit/train_worker.py ...   (DDP, gloo on CPU)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

from defmo.config import load
from defmo.train import ddp
from defmo.train.loop import Outputs, make_plan, run_steps, save_state, try_resume
from defmo.train.trainer import Trainer
from defmo.utils.runtime import seed_everything

REPO = Path(__file__).resolve().parents[2]


def random_dataset(n: int, frames: int, size: int, seed: int = 123) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    items = []
    for _ in range(n):
        item = {k: torch.rand(3, size, size, generator=g) for k in ("image", "background", "image2", "background2")}
        item["frames"] = torch.rand(frames, 4, size, size, generator=g)
        items.append(item)
    return items


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--approach", default="defmo")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--every", type=int, default=1)
    p.add_argument("--resume-dir", type=Path, required=True)
    p.add_argument("--result", type=Path, required=True)
    p.add_argument("--bn-eval", action="store_true", help="BatchNorm on running stats (DDP comparison)")
    p.add_argument("--generator", default=None, help="model.generator (default: the tiny scale's)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    tiny = "scales.tiny.train"  # (overrides of top-level keys lose against the scale's own values)
    cfg = load(REPO / "params.yaml", "tiny", [
        f"train.max_steps={args.steps}", f"{tiny}.checkpoint_every={args.every}", "device=cpu",
        f"{tiny}.approach.{args.approach}.batch_size={args.batch}", f"{tiny}.approach.{args.approach}.epochs=3",
        *([f"scales.tiny.model.generator={args.generator}", "scales.tiny.model.fit_steps=0"]
          if args.generator and args.generator != "object" else []),
    ])
    device = ddp.setup(torch.device("cpu"))
    seed_everything(int(cfg.seed) + ddp.rank())
    trainer = Trainer(cfg, args.approach, device, False, False)
    if args.bn_eval:
        for m in trainer.generator.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()
    data = random_dataset(16, cfg.data.n_subframes, cfg.data.resolution)
    plan = make_plan(cfg, args.approach, len(data), ddp.world_size())
    outputs = Outputs(args.result, args.result, args.result, args.resume_dir)
    history = try_resume(trainer, cfg, outputs)
    run_steps(trainer, cfg, data, plan, outputs, history)
    save_state(trainer, cfg, history, outputs.last)
    if ddp.is_main():
        torch.save({"nets": {k: v.state_dict() for k, v in trainer.nets.items()}, "rows": history.rows,
                    "step": trainer.step}, args.result)
    ddp.teardown()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
