"""Networks: the DeFMO generator (encoder + renderer), the learned-loss discriminators D_S and D_T.

Public API (all built from the resolved config's ``model`` section):
    build_generator(cfg) -> Generator      (model.generator: table1 = Generator | unet = UNetGenerator |
                                           streak = StreakGenerator | object = ObjectGenerator)
                                           encode (B,6,H,W)->(B,K,H/16,W/16); render(latent, times (T,))
                                           -> (B,T,4,H,W) in [0,1]; forward(image, background, times)
    build_ds(cfg) -> SharpnessCritic       (B,4,H,W) -> (B,) Wasserstein score
    build_dt(cfg) -> OrderDiscriminator    (B,4,H,W), (B,4,H,W) -> (B,) logit
    load_original(folder) -> Generator     DeFMO's published ResNet-50 weights
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from torch import nn

from defmo.models.discriminator_arch import OrderDiscriminator, SharpnessCritic
from defmo.models.generator import Generator, subframe_times
from defmo.models.object_arch import ObjectGenerator
from defmo.models.original import load_original
from defmo.models.unet_arch import StreakGenerator, UNetGenerator
from defmo.settings import Config, Model, model_of

log = logging.getLogger(__name__)

__all__ = [
    "Generator", "UNetGenerator", "StreakGenerator", "ObjectGenerator", "SharpnessCritic", "OrderDiscriminator", "build_generator", "build_ds", "build_dt",
    "load_original", "subframe_times", "count_parameters",
]


GENERATORS = {"table1": Generator, "unet": UNetGenerator, "streak": StreakGenerator, "object": ObjectGenerator}


def build_generator(cfg: Config | Mapping) -> nn.Module:
    """The generator ``cfg.model.generator`` (table1: the report's Table 1 | unet | streak | object: the cpu
    scale's) with ``encoder`` (resnet18 | resnet50), ``pretrained``, for streak and object ``appearance`` and for
    object the mask's Landweber fit (``deblat_iters``, ``deblat_step``), the time band (``time_sigma``), the
    feature alignment (``align_knots``), the template network (``template_width``) and the fit at inference (``fit_steps``,
    ``fit_lr``, ``fit_mask_lr``, ``fit_knots``).

    ``cfg`` is the resolved :class:`~defmo.settings.Config` or a checkpoint's plain config dict.
    """
    # checkpoints written before model.appearance existed were trained relative to the image (Model.LEGACY)
    model = model_of(cfg)
    if model.generator == "object":
        fit = {"lr": model.fit_lr, "mask_lr": model.fit_mask_lr, "knots": model.fit_knots}
        return ObjectGenerator(model.encoder, model.pretrained, appearance=model.appearance, fit_steps=model.fit_steps,
                               deblat_iters=model.deblat_iters, deblat_step=model.deblat_step,
                               time_sigma=model.time_sigma, align_knots=model.align_knots,
                               template_width=model.template_width, fit=fit)
    if model.generator == "streak":
        return StreakGenerator(model.encoder, model.pretrained, appearance=model.appearance)
    return GENERATORS[model.generator](model.encoder, model.pretrained)


def _disc_pretrained(model: Model) -> str:
    if model.discriminator == "light" and model.pretrained != "none":
        log.info("model.pretrained=%s does not apply to the light discriminators (random init)", model.pretrained)
        return "none"
    return model.pretrained


def build_ds(cfg: Config | Mapping) -> SharpnessCritic:
    """D_S from ``cfg.model``: ``discriminator`` (resnet18 | light), ``pretrained``, ``ds_input`` (masked | raw),
    ``ds_noise`` (sigma of the Gaussian input noise in training mode; 0 = off)."""
    model = model_of(cfg)
    return SharpnessCritic(model.discriminator, _disc_pretrained(model), model.ds_input == "masked", model.ds_noise)


def build_dt(cfg: Config | Mapping) -> OrderDiscriminator:
    """D_T from ``cfg.model``: ``discriminator`` (resnet18 | light), ``pretrained``."""
    model = model_of(cfg)
    return OrderDiscriminator(model.discriminator, _disc_pretrained(model))


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters in ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
