"""The proposed learned losses: L_G (Wasserstein patch GAN with D_S, eq. 11) and L_N (pair order with D_T, eq. 12).

Sub-frames are ``(B, N, 4, H, W)`` in [0, 1]. The networks may run under autocast; scores and logits are
cast to float32 before any mean, log or cross-entropy.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from defmo.losses._precision import float32_region

Critic = Callable[[torch.Tensor], torch.Tensor]  # (M, 4, H, W) -> (M,)
PairNet = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (M, 4, H, W) x 2 -> (M,) logits


def mean_score(ds: Critic, frames: torch.Tensor) -> torch.Tensor:
    """``E[D_S(R_t)]`` averaged over the batch and all N sub-frames: ``(B, N, 4, H, W)`` -> float32 scalar.

    All sub-frames go through D_S as one batch of ``B*N``; with equal counts per t this is
    ``1/N sum_t E_b[D_S(R_bt)]`` of eq. 11.
    """
    return ds(frames.flatten(0, 1)).float().mean()


def wgan_critic_loss(ds: Critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """D_S's objective to minimise: ``-L_G = E[D_S(fake)] - E[D_S(real)]`` (eq. 11, D_S maximises L_G).

    ``real`` (GT) and ``fake`` (generated) ``(B, N, 4, H, W)``; ``fake`` is detached here, so the critic
    step never reaches the generator.
    """
    return mean_score(ds, fake.detach()) - mean_score(ds, real)


def wgan_generator_loss(ds: Critic, fake: torch.Tensor, real: torch.Tensor | None = None) -> torch.Tensor:
    """The generator's L_G to minimise: ``-E[D_S(fake)]``, plus ``E[D_S(real)]`` (no gradient) when ``real`` is given.

    With ``real`` the value is eq. 11's L_G itself (for logging); its gradient is the same either way.
    D_S's parameters receive gradients too (zero them, or freeze D_S, before its own step); in training mode
    its forward also updates its batch-norm statistics and spectral-norm power iterations.
    """
    loss = -mean_score(ds, fake)
    if real is None:
        return loss
    with torch.no_grad():
        real_term = mean_score(ds, real)
    return loss + real_term


def all_pairs(n: int, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every ordered pair (t, u) of N sub-frames, ``t`` and ``u`` ``(N*N,)`` long, label ``u == t + 1`` float."""
    idx = torch.arange(n, device=device)
    t, u = idx.repeat_interleave(n), idx.repeat(n)
    return t, u, (u == t + 1).float()


def sampled_pairs(n: int, generator: torch.Generator | None = None,
                  device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The report's code: N-1 positives (t, t+1) and N-1 negatives (t, (t + k) mod N), k uniform in 2..N-1.

    Negatives are never (t, t) nor (t, t+1) and can be in reversed order. For N = 2 (no valid k) the
    negative is the reversed pair (1, 0). Returns ``t, u (2(N-1),)`` long and labels (1 then 0) float.
    ``generator`` is a CPU ``torch.Generator`` for reproducible draws.
    """
    t = torch.arange(n - 1)
    if n > 2:
        k = torch.randint(2, n, (n - 1,), generator=generator)
        neg_t, neg_u = t, (t + k) % n
    else:
        neg_t, neg_u = t + 1, t
    first = torch.cat((t, neg_t)).to(device)
    second = torch.cat((t + 1, neg_u)).to(device)
    labels = torch.cat((torch.ones(n - 1), torch.zeros(n - 1))).to(device)
    return first, second, labels


PAIR_SCALES = {"all": 1.0, "sampled": 2.0}


def pair_loss_scale(pairs: str) -> float:
    """The factor :func:`loss_n` applies to the mean BCE per pair: 1 for ``all`` (eq. 12), 2 for ``sampled``.

    The report's code sums BCE(negative_t) + BCE(positive_t) over t and divides by N - 1, twice the mean over
    its 2(N - 1) pairs; the report's a_N = 0.05 is on that scale. Dividing :func:`loss_n` by this factor gives
    the plain mean BCE per pair (ln 2 = 0.693 at chance under either setting).
    """
    if pairs not in PAIR_SCALES:
        raise ValueError(f"loss_n: pairs must be 'all' or 'sampled', not {pairs!r}")
    return PAIR_SCALES[pairs]


def loss_n(dt: PairNet, frames: torch.Tensor, pairs: str = "all",
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Report eq. 12: binary cross-entropy of D_T's "u immediately follows t" over pairs of sub-frames.

    Args:
        dt: D_T, returning LOGITS ``(M,)`` for pairs ``(M, 4, H, W)`` x 2 (sigmoid folded into the BCE).
        frames: ``(B, N, 4, H, W)``, N >= 2. Both D_T and the generator minimise this (pass detached
            frames for D_T's step).
        pairs: ``all`` = eq. 12 over all N x N ordered pairs (``1/N^2`` sum, u = t included);
            ``sampled`` = N-1 positives and N-1 random negatives per sample (the report's code).
        generator: CPU RNG for ``sampled`` draws (one draw per sample).
    Returns:
        float32 scalar averaged over the batch: for ``all`` the mean BCE over the N*N pairs; for ``sampled``
        the report's code's value ``sum_t [BCE(neg_t) + BCE(pos_t)] / (N - 1)``, i.e. twice the mean BCE over
        the 2(N-1) pairs (see :func:`pair_loss_scale`).
    """
    scale = pair_loss_scale(pairs)
    batch, n = frames.shape[:2]
    if pairs == "all":
        t, u, labels = all_pairs(n, frames.device)
        t, u, labels = t.repeat(batch), u.repeat(batch), labels.repeat(batch)
    else:
        draws = [sampled_pairs(n, generator, frames.device) for _ in range(batch)]
        t, u, labels = (torch.cat(parts) for parts in zip(*draws))
    per_sample = t.numel() // batch
    b = torch.arange(batch, device=frames.device).repeat_interleave(per_sample)
    logits = dt(frames[b, t], frames[b, u])
    with float32_region(frames):
        return scale * F.binary_cross_entropy_with_logits(logits.float(), labels)
