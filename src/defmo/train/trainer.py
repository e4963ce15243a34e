"""The trainer: one generator step plus the D_S / D_T steps of an approach, alternating (report section 4).

An approach (:class:`defmo.settings.Approach`) is its schedule and loss weights (``losses``: the symbols of
:data:`defmo.settings.LOSSES`; C, the validation metric as a loss, is the ``probe`` approach's). D_S exists
iff ``G`` is weighted, D_T iff ``N`` is. Each network has its own Adam optimizer and StepLR scheduler
(stepped per epoch by the caller through :meth:`Trainer.end_epoch`; step size ``train.lr_step`` unless the
approach sets its own). Mixed
precision: fp16 autocast with one GradScaler per optimizer on CUDA, bf16 autocast on CPU. Gradient
checkpointing is the Generator's.
Under ``torchrun`` (an initialised process group) every network is wrapped in DistributedDataParallel.

Non-finite steps: an update whose loss or gradient is NaN/inf is skipped (weights and optimizer state
untouched) and counted per network (``skipped``); the run stops with :class:`LossNotFinite` only after
``train.max_skipped_steps`` consecutive steps whose generator update was skipped.
"""

from __future__ import annotations

import contextlib
import logging
import math
from typing import Callable

import torch
from torch import nn

from defmo.errors import UserError
from defmo.losses import defmo as ldefmo
from defmo.losses import learned as llearned
from defmo.losses import probe as lprobe
from defmo.models import build_ds, build_dt, build_generator
from defmo.settings import LOSSES, Config
from defmo.train import ddp

log = logging.getLogger(__name__)

LOSS_TERMS = tuple(LOSSES)  # F, I, T, S, L, G, N, C: the loss curve CSV columns, in this order
BATCH_KEYS = ("image", "background", "image2", "background2", "frames")


class LossNotFinite(UserError):
    """The generator's update was non-finite (loss or gradient) for ``train.max_skipped_steps`` consecutive
    steps; the message names the network, the step, the cause and what to try."""


class Trainer:
    """Networks, optimizers, schedulers and scalers of one approach, and its training step.

    Args:
        cfg: the resolved config (``defmo.config.load``).
        approach: a key of ``cfg.train.approach`` (an undefined one is a :class:`UserError`).
        device: where the networks live.
        gradient_checkpointing: enable the Generator's checkpointing (2 segments per part).
        mixed_precision: fp16 autocast + GradScaler on CUDA, bf16 autocast on CPU.
        render_loop: render with the original DeFMO's one-call-per-time-step loop (benchmark reference only).
    """

    def __init__(
        self, cfg: Config, approach: str, device: torch.device | str,
        gradient_checkpointing: bool, mixed_precision: bool, *, render_loop: bool = False,
    ) -> None:
        self.cfg, self.approach = cfg, approach
        self.device = torch.device(device)
        spec = cfg.approach(approach)
        self.weights = spec.weights
        self.mixed_precision = bool(mixed_precision)
        self.amp_dtype = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        self.pairs = cfg.model.dt_pairs
        self.render_loop = bool(render_loop)
        self.nets = self._build_networks(gradient_checkpointing)
        self.wrapped = {name: ddp.wrap(net, self.device) for name, net in self.nets.items()}
        self.optimizers = self._build_optimizers()
        lr_step = spec.step_size(cfg.train.lr_step)
        self.schedulers = {
            name: torch.optim.lr_scheduler.StepLR(opt, step_size=lr_step, gamma=cfg.train.lr_gamma)
            for name, opt in self.optimizers.items()
        }
        use_scaler = self.mixed_precision and self.device.type == "cuda"
        self.scalers = {name: torch.amp.GradScaler("cuda", enabled=use_scaler) for name in self.optimizers}
        self.pair_rng = torch.Generator().manual_seed(int(cfg.seed) + 7919 * ddp.rank())
        self.step = 0
        self.max_skipped_steps = int(cfg.train.max_skipped_steps)
        self.skipped = dict.fromkeys(self.nets, 0)  # updates skipped per network (non-finite loss or grad)
        self.consecutive_skipped = 0  # steps in a row whose generator update was skipped and counted
        self.skip_cause = ""  # why the last skipped update was skipped: "loss" or "gradient"

    # ------------------------------------------------------------------ construction
    def _build_networks(self, gradient_checkpointing: bool) -> dict[str, nn.Module]:
        nets: dict[str, nn.Module] = {"generator": build_generator(self.cfg)}
        nets["generator"].set_gradient_checkpointing(bool(gradient_checkpointing))
        if "G" in self.weights:
            nets["ds"] = build_ds(self.cfg)
        if "N" in self.weights:
            nets["dt"] = build_dt(self.cfg)
        for net in nets.values():
            net.to(self.device).train()
        return nets

    def _build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        t = self.cfg.train
        lrs = {"generator": t.lr_g, "ds": t.lr_ds, "dt": t.lr_dt}
        # The fused kernel (one per step instead of a loop of foreach ops) is faster per step on CPU
        # (docs/CPU_TRAINING.md, "Why each cpu-scale value"); GradScaler and DDP support it (torch.optim.Adam docs).
        fused = self.device.type in ("cpu", "cuda")
        return {name: torch.optim.Adam(net.parameters(), lr=lrs[name], fused=fused) for name, net in self.nets.items()}

    @property
    def generator(self) -> nn.Module:
        return self.nets["generator"]

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast for the forward passes (a no-op when mixed precision is off)."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.mixed_precision)

    # ------------------------------------------------------------------ one step
    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One generator step, then ``ds_steps`` D_S steps and ``dt_steps`` D_T steps, alternating.

        Args:
            batch: ``image, background, image2, background2`` ``(B,3,H,W)`` and ``frames`` ``(B,N,4,H,W)``,
                float32 in [0, 1] (``image2``/``background2`` are only needed when ``L`` is weighted).
        Returns:
            every computed loss term (unweighted) as a float, plus ``total`` (the weighted generator loss)
            and ``ds``/``dt`` (the discriminators' own losses, mean over their steps; ``dt`` as the mean BCE
            per pair, see :meth:`_discriminator_steps`) when present. ``N`` is ``loss_n`` as optimised (scaled).
            ``skipped``: how many of this step's updates (generator and discriminators) were skipped as
            non-finite.
        Raises:
            LossNotFinite: the generator's update was skipped for ``train.max_skipped_steps`` consecutive
                steps (this one included; ``self.step`` is not advanced).
        """
        batch = self._to_device(batch)
        before = sum(self.skipped.values())
        fake, terms = self._generator_step(batch)
        terms.update(self._discriminator_steps(batch["frames"], fake.detach()))
        terms["skipped"] = sum(self.skipped.values()) - before
        self.step += 1
        return terms

    def _to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        missing = [k for k in ("image", "background", "frames") if k not in batch]
        if "L" in self.weights:
            missing += [k for k in ("image2", "background2") if k not in batch]
        if missing:
            raise UserError(f"training batch lacks {', '.join(missing)} (the dataset must provide {BATCH_KEYS})")
        return {k: v.to(self.device, non_blocking=True) for k, v in batch.items() if k in BATCH_KEYS}

    def _generator_step(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Render ``(B, N, 4, H, W)``, compute the approach's terms and update G; D_S and D_T are frozen meanwhile."""
        n = batch["frames"].shape[1]
        times = torch.linspace(0.0, 1.0, n, device=self.device)
        with self.autocast():
            fake, latent = self._render(batch, times)
            latent2 = self._second_latent(batch) if "L" in self.weights else None
        fake = fake.float()
        with frozen([self.nets[name] for name in ("ds", "dt") if name in self.nets]):
            values = self._generator_terms(fake, latent, latent2, batch)
            total = sum(self.weights[k] * v for k, v in values.items())
            skipped = self.skipped["generator"]
            self._update("generator", total)
        out = {k: float(v.detach()) for k, v in values.items()}
        out["total"] = float(total.detach())
        if self.skipped["generator"] == skipped:
            self.consecutive_skipped = 0
        elif self._counts_toward_stop():
            self.consecutive_skipped += 1
            if self.consecutive_skipped >= self.max_skipped_steps:
                raise LossNotFinite(self._stop_message(out))
        return fake, out

    def _render(self, batch: dict[str, torch.Tensor], times: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sub-frames ``(B, N, 4, H, W)`` and latent, batched over time (or the reference loop)."""
        if not self.render_loop:
            return self.wrapped["generator"](batch["image"], batch["background"], times)
        return self.generator.forward_loop(batch["image"], batch["background"], times)

    def _second_latent(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        x6 = torch.cat([batch["image2"], batch["background2"]], dim=1)
        return self.generator.encode(x6)

    def _generator_terms(self, fake, latent, latent2, batch) -> dict[str, torch.Tensor]:
        """The weighted terms of the approach, each a 0-dim float32 tensor."""
        gt, image, bg = batch["frames"], batch["image"], batch["background"]
        fns: dict[str, Callable[[], torch.Tensor]] = {
            "F": lambda: ldefmo.loss_f(fake, gt),
            "I": lambda: ldefmo.loss_i(fake, image, bg, self._i_region(gt)),
            "T": lambda: ldefmo.loss_t(fake),
            "S": lambda: ldefmo.loss_s(fake),
            "L": lambda: ldefmo.loss_l(latent.float(), latent2.float()),
            "G": lambda: llearned.wgan_generator_loss(self.nets.get("ds"), fake),
            "N": lambda: llearned.loss_n(self.nets.get("dt"), fake, self.pairs, self.pair_rng),
            "C": lambda: lprobe.loss_c(fake, gt, bg),
        }
        with self.autocast():
            return {k: fns[k]().float() for k in LOSS_TERMS if k in self.weights}

    def _i_region(self, gt: torch.Tensor) -> torch.Tensor | None:
        """L_I's region (``train.loss_i_region``): None for the whole image (report), else the GT object's."""
        return ldefmo.object_region(gt) if self.cfg.train.loss_i_region == "object" else None

    def _discriminator_steps(self, real: torch.Tensor, fake: torch.Tensor) -> dict[str, float]:
        """Alternate D_S and D_T steps on the detached renders ``(B, N, 4, H, W)``: ``ds_steps`` and ``dt_steps``.

        Returns the mean over its steps of each network's loss: ``ds`` = -L_G; ``dt`` = the plain mean BCE per
        pair (``loss_n`` over :func:`defmo.losses.learned.pair_loss_scale`, ln 2 at chance under either
        ``model.dt_pairs``), while the optimised loss is ``loss_n`` itself.
        """
        t = self.cfg.train
        log_scale = {"ds": 1.0, "dt": llearned.pair_loss_scale(self.pairs)}
        plan = _alternate(t.ds_steps if "ds" in self.nets else 0, t.dt_steps if "dt" in self.nets else 0)
        sums: dict[str, list[float]] = {}
        for name in plan:
            with self.autocast():
                if name == "ds":
                    loss = llearned.wgan_critic_loss(self.wrapped["ds"], real, fake).float()
                else:
                    loss = llearned.loss_n(self.wrapped["dt"], fake, self.pairs, self.pair_rng).float()
            self._update(name, loss)
            sums.setdefault(name, []).append(float(loss.detach()) / log_scale[name])
        return {name: sum(v) / len(v) for name, v in sums.items()}

    def _update(self, name: str, loss: torch.Tensor) -> None:
        """Backward ``loss`` and step ``name``'s optimizer, unless the loss or any (unscaled) gradient is
        NaN/inf: then skip the step (weights and optimizer state untouched, gradients cleared), count it in
        ``self.skipped[name]`` and set ``self.skip_cause``. The fp16 GradScaler's own overflow skips are
        caught here too (the check runs after ``unscale_``), so they are counted; its ``update`` still lowers
        the scale. Under DDP all ranks decide alike (gradients are all-reduced, losses are not)."""
        opt, scaler = self.optimizers[name], self.scalers[name]
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)  # a no-op when the scaler is off
        grads = [p.grad for p in self.nets[name].parameters() if p.grad is not None]
        max_abs = torch._foreach_norm(grads, float("inf")) if grads else []  # max |g|: NaN/inf iff one is
        flags = torch.isfinite(torch.stack([loss.detach().float(), *max_abs]))
        loss_ok, ok = bool(flags[0]), bool(flags.all())
        if ddp.all_mean(float(ok)) == 1.0:
            scaler.step(opt)
        else:
            opt.zero_grad(set_to_none=True)
            self.skipped[name] += 1
            # every rank takes the same cause, so every rank counts toward the stop alike
            self.skip_cause = "gradient" if ddp.all_mean(float(loss_ok)) == 1.0 else "loss"
        scaler.update()

    def _counts_toward_stop(self) -> bool:
        """Whether a skipped generator update counts toward ``train.max_skipped_steps``: always, except a
        gradient overflow under the fp16 GradScaler while its scale is still >= 1 (the scaler calibrating)."""
        scaler = self.scalers["generator"]
        return self.skip_cause == "loss" or not scaler.is_enabled() or scaler.get_scale() < 1.0

    def _stop_message(self, terms: dict[str, float]) -> str:
        """Why the run stops and what to try, after the generator's last skipped update (``terms``: its
        losses)."""
        bad = [f"'{k}' = {v}" for k, v in terms.items() if k != "total" and not math.isfinite(v)]
        if self.skip_cause == "loss":
            cause = f"a non-finite loss ({', '.join(bad) or 'total = ' + str(terms['total'])})"
        else:
            cause = "a non-finite gradient while every loss term was finite"
        if self.mixed_precision:
            advice = "Turn off train.mixed_precision (fp16/bf16 overflow is the likely cause) and run again."
        elif self.skip_cause == "loss":
            advice = "Lower the learning rates (train.lr_g, train.lr_ds, train.lr_dt) and run again."
        else:
            advice = ("A non-finite gradient with finite losses points at a degenerate operation in the "
                      "model (e.g. 0 * inf in backward): please report it with this message; lowering the "
                      "learning rates (train.lr_*) may get past it.")
        return (
            f"approach '{self.approach}', step {self.step + 1}: the generator's update was skipped for "
            f"{self.consecutive_skipped} consecutive steps (train.max_skipped_steps = "
            f"{self.max_skipped_steps}), the last for {cause}. Training stopped (the skipped steps left the "
            f"weights untouched) and the last good checkpoint in the resume folder is kept. {advice} "
            "(With a changed train section the run starts from step 0.)"
        )

    # ------------------------------------------------------------------ epochs and state
    def end_epoch(self) -> None:
        """Step every scheduler (StepLR counts epochs, as in the report's code)."""
        for sched in self.schedulers.values():
            sched.step()

    def state_dict(self) -> dict:
        """Everything needed to resume except RNG states (see :mod:`defmo.train.checkpoint`)."""
        return {
            "approach": self.approach,
            "step": self.step,
            "nets": {k: v.state_dict() for k, v in self.nets.items()},
            "optimizers": {k: v.state_dict() for k, v in self.optimizers.items()},
            "schedulers": {k: v.state_dict() for k, v in self.schedulers.items()},
            "scalers": {k: v.state_dict() for k, v in self.scalers.items()},
            "pair_rng": self.pair_rng.get_state(),
            "skipped": dict(self.skipped),
            "consecutive_skipped": self.consecutive_skipped,
        }

    def load_state_dict(self, state: dict) -> None:
        if state["approach"] != self.approach or set(state["nets"]) != set(self.nets):
            raise UserError(
                f"checkpoint is for approach '{state['approach']}' with networks {sorted(state['nets'])}, "
                f"not '{self.approach}' with {sorted(self.nets)}: train '{state['approach']}' from it, or give this run its "
                f"own --resume-dir"
            )
        for group, target in (("nets", self.nets), ("optimizers", self.optimizers),
                              ("schedulers", self.schedulers), ("scalers", self.scalers)):
            for name, obj in target.items():
                obj.load_state_dict(state[group][name])
        self.pair_rng.set_state(state["pair_rng"])
        self.step = int(state["step"])
        saved = state.get("skipped", {})  # checkpoints from before the counters: none skipped
        self.skipped = {name: int(saved.get(name, 0)) for name in self.nets}
        self.consecutive_skipped = int(state.get("consecutive_skipped", 0))


@contextlib.contextmanager
def frozen(nets: list[nn.Module]):
    """Freeze ``nets`` for the generator step as the report's code does: no parameter gradients and eval mode
    (batch norm uses its running statistics rather than those of an all-fake batch, which it also leaves
    unchanged; spectral norm skips its power iteration); back to trainable and train mode on exit."""
    for net in nets:
        net.requires_grad_(False).eval()
    try:
        yield
    finally:
        for net in nets:
            net.requires_grad_(True).train()


def _alternate(ds_steps: int, dt_steps: int) -> list[str]:
    """Interleave the discriminator steps: ``(1, 2) -> [ds, dt, dt]``, ``(2, 2) -> [ds, dt, ds, dt]``."""
    plan: list[str] = []
    rounds = max(ds_steps, dt_steps)
    for i in range(rounds):
        plan += ["ds"] * (i < ds_steps)
        per = math.ceil(dt_steps / rounds) if rounds else 0
        plan += ["dt"] * max(0, min(per, dt_steps - plan.count("dt")))
    return plan
