"""Losses: DeFMO's (``defmo``: L_F, L_I, L_T, L_S, L_L), the learned ones (``learned``: L_G, L_N) and the
validation metric as a probe (``probe``: L_C, no method of the report)."""

from defmo.losses.defmo import loss_f, loss_i, loss_l, loss_s, loss_t
from defmo.losses.learned import loss_n, wgan_critic_loss, wgan_generator_loss
from defmo.losses.probe import loss_c

__all__ = ["loss_f", "loss_i", "loss_t", "loss_s", "loss_l", "wgan_critic_loss", "wgan_generator_loss", "loss_n", "loss_c"]
