"""The resolved configuration as typed, frozen objects: one dataclass per section of ``params.yaml``.

:mod:`defmo.config` resolves and validates ``params.yaml`` once (schema and cross-key checks) and builds a
:class:`Config` from the result; every stage then reads attributes (``cfg.train.lr_g``) instead of looking
keys up in a nested dict. An approach is one :class:`Approach` (epochs, batch size, its own LR step, named
loss weights). :data:`LOSSES` is the one table of the loss symbols (the report's, used as keys in
``params.yaml``) and their full names.

The objects are frozen (:class:`~defmo.utils.frozen.Section`): a variant (an ablation cell, another
generator) is made with :func:`dataclasses.replace`. Lists become tuples equal to the list and free-form tables
(datasets, approaches, loss weights) read-only mappings; ``to_dict()`` gives back the plain resolved dict (what
the resolved file and the checkpoints store, and what code that takes a plain mapping is handed).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import ClassVar

from defmo.utils.frozen import FrozenMap, Section, SettingsError, plain, table

__all__ = [  # FrozenMap and SettingsError are defmo.utils.frozen's, read from here too
    "LOSSES", "FrozenMap", "SettingsError", "Trajectory", "Data", "Detect", "Footage", "BenchmarkData", "Model", "Approach", "Train",
    "Evaluate", "Ablate", "Quality", "Seeds", "Config", "model_of", "as_dict",
]

# The loss symbols of the report (the keys of train.approach.<name>.losses) and their full names: the one
# table of them (Table 2's rows are named from it). D_S is built for G, D_T for N; C, the validation metric
# as a loss (the composited sub-frames against the GT high-speed frames), is the probe approach's.
LOSSES: dict[str, str] = {
    "F": "supervised",
    "I": "image reconstruction",
    "T": "time-consistency",
    "S": "sharpness",
    "L": "latent learning",
    "G": "GAN sharpness",
    "N": "NN-based time-consistency",
    "C": "composite",
}


@dataclass(frozen=True, eq=False)
class Trajectory(Section):
    """The 6D trajectory ranges of the synthetic data (``data.trajectory``, scene units)."""

    offset_x: float
    offset_yz: float
    move_x: float
    move_yz: float
    rotation_deg: float
    travel_sizes: tuple[float, float] | None
    bounce: float
    curve: float


@dataclass(frozen=True, eq=False)
class Data(Section):
    """Synthetic training/validation data (``data``): sources, sizes, trajectories, rejection thresholds."""

    NESTED: ClassVar[dict] = {"trajectory": Trajectory.from_dict}

    meshes: str
    textures: str
    backgrounds: str
    val_meshes: str | None
    val_backgrounds: str | None
    val_fraction: float
    resolution: int
    n_subframes: int
    exposure_samples: int
    train_samples: int
    val_samples: int
    shard_size: int
    workers: int
    trajectory: Trajectory
    object_scale: tuple[float, float]
    min_contrast: float
    min_coverage: float
    flips: bool


@dataclass(frozen=True, eq=False)
class BenchmarkData(Section):
    """Embedded benchmark sequences in the FMO benchmark's layout (``benchmark_data``)."""

    sequences: int
    frames: int
    width: int
    height: int
    n_subframes: int


@dataclass(frozen=True, eq=False)
class Model(Section):
    """The networks (``model``): generator kind, encoder, discriminators and their inputs."""

    generator: str
    appearance: str
    encoder: str
    pretrained: str
    discriminator: str
    ds_input: str
    ds_noise: float
    dt_pairs: str
    fit_steps: int
    fit_lr: float
    fit_mask_lr: float
    fit_knots: int
    deblat_iters: int
    deblat_step: float
    time_sigma: float
    align_knots: int
    template_width: int

    # What a checkpoint written before a key existed was trained with (or, for the fit, evaluated with).
    LEGACY: ClassVar[dict] = {"appearance": "image", "fit_steps": 0, "fit_lr": 0.3, "fit_mask_lr": 1.0,
                              "fit_knots": 5, "deblat_iters": 16, "deblat_step": 1.5, "time_sigma": 0.05,
                              "align_knots": 5, "template_width": 32}

    @classmethod
    def from_saved(cls, model: Mapping) -> "Model":
        """The ``model`` section stored in a checkpoint (a plain dict, perhaps from an older version).

        A key the checkpoint lacks takes the value older versions implied (:attr:`LEGACY`), or None where
        there is none (a network that needs it then fails); keys this version no longer has are ignored.
        """
        if isinstance(model, Model):
            return model
        names = [f.name for f in fields(cls)]
        known = {k: v for k, v in model.items() if k in names}
        return cls.from_dict({**dict.fromkeys(names), **cls.LEGACY, **known}, "model")


@dataclass(frozen=True, eq=False)
class Approach(Section):
    """One training approach (``train.approach.<name>``): its schedule and its named loss weights.

    ``losses`` maps a symbol of :data:`LOSSES` to its weight; a weight of 0 turns the term off.
    """

    epochs: int
    batch_size: int
    losses: FrozenMap
    lr_step: int | None = field(default=None, metadata={"omit_none": True})

    @property
    def weights(self) -> dict[str, float]:
        """The loss terms in use: symbol -> weight, for every positive weight."""
        return {k: float(v) for k, v in self.losses.items() if float(v) > 0}

    def step_size(self, default: int) -> int:
        """The StepLR step size in epochs: the approach's own ``lr_step``, else ``default`` (train.lr_step)."""
        return default if self.lr_step is None else self.lr_step


@dataclass(frozen=True, eq=False)
class Train(Section):
    """Training (``train``): learning rates, schedules, discriminator steps, switches, and the approaches."""

    NESTED: ClassVar[dict] = {"approach": table(Approach)}

    approaches: tuple[str, ...]
    lr_g: float
    lr_ds: float
    lr_dt: float
    lr_step: int
    lr_gamma: float
    ds_steps: int
    dt_steps: int
    gradient_checkpointing: bool
    mixed_precision: bool
    loss_i_region: str
    checkpoint_every: int
    log_every: int
    val_every: int | None
    max_steps: int | None
    max_skipped_steps: int
    approach: FrozenMap

    def spec(self, name: str) -> Approach:
        """The approach ``name``; one not defined under ``train.approach`` is a :class:`UserError`."""
        if name not in self.approach:
            raise SettingsError(
                f"params.yaml: approach '{name}' is not defined under 'train.approach' "
                f"(defined: {', '.join(self.approach)}); add it there or pick one of those"
            )
        return self.approach[name]

    def with_approach(self, name: str, **changes) -> "Train":
        """A copy whose approach ``name`` has ``changes`` applied."""
        approaches = dict(self.approach)
        approaches[name] = replace(self.spec(name), **changes)
        return replace(self, approach=FrozenMap(approaches))


@dataclass(frozen=True, eq=False)
class Detect(Section):
    """How ``deblur`` finds the fast-moving object in a video (``evaluate.detect``,
    :mod:`defmo.evaluate.detect`): ``threshold`` of a channel's |difference| in [0, 1]; ``window`` frames each
    side of the running-median background, recomputed every ``stride`` frames; a candidate's ``min_area``
    (pixels), ``min_radius`` (half-width, pixels) and ``min_whole`` (share of its background-difference region
    it covers); ``min_track`` consecutive frames; ``max_angle`` (degrees) between the streak's axis and its
    step; ``min_exposure``, the least travel within the exposure over the step between frames;
    ``pair_threshold``, the threshold for an image and its background (``--image``); ``exposure``, the camera's exposure fraction (None: estimated per track from
    its streaks' lengths, :mod:`defmo.evaluate.paths`); ``bridge``, passes of
    one frame each that fill a track's gaps and extend its ends where it predicts the object; ``faint``, the
    low threshold (a share of ``threshold``) of a second, hysteresis pass for frames the first leaves without an
    object (None: one pass); ``confirm_radius``, the least half-width (pixels) of each of two linked streaks
    that start a track where a looser region continues them into a third frame (None: off;
    :func:`defmo.evaluate.tracks.confirm`)."""

    threshold: float
    window: int
    stride: int
    min_area: int
    min_radius: float
    min_whole: float
    min_track: int
    max_angle: float
    min_exposure: float
    pair_threshold: float
    bridge: int
    exposure: float | None = None
    faint: float | None = None
    confirm_radius: float | None = None


@dataclass(frozen=True, eq=False)
class Footage(Section):
    """The fit's options on real footage (``evaluate.footage``, ``deblur`` only; the benchmark's fit is
    ``model.fit_steps`` alone): ``path`` is what the fit shifts and bends: ``track`` (each frame's path from its
    neighbours on the track, :mod:`defmo.evaluate.paths`), ``streak`` (the frame's streak's centre line) or
    ``network`` (the network's path with free knot offsets), or ``best``: whichever of the three blurs to the
    frame best, each end then free and pulled there by ``pull`` (None: the ends fixed); ``margin`` sets the
    background: the frame's own outside ``1 + margin`` streak half-widths of the streak (None: the running
    median everywhere; :func:`defmo.evaluate.streaks.local_background`); ``tv`` weighs the total variation of the mask and colour; ``prior`` the L1
    distance of the colour to the network's own; ``crisp`` pushes the mask to 0 or 1; ``steps`` and ``samples``
    the fit's Adam steps (None: the checkpoint's) and exposure times per step (None: all); ``shape`` the mask
    (``free`` per pixel or one ``ellipse``) and ``shape_lr`` the ellipse's Adam step
    (:func:`defmo.models.deblat_fit.fit_to_image`); ``batch``
    frames are deblurred in one network pass and one fit."""

    path: str
    pull: float | None
    margin: float | None
    tv: float
    prior: float
    crisp: float
    steps: int | None
    samples: int | None
    batch: int
    shape: str
    shape_lr: float

    def fit_options(self) -> dict:
        """The keyword options of :func:`defmo.models.deblat_fit.infer` these settings give."""
        return {"tv": self.tv, "prior": self.prior, "crisp": self.crisp, "steps": self.steps,
                "samples": self.samples, "shape": self.shape, "shape_lr": self.shape_lr,
                "pull": self.pull}


@dataclass(frozen=True, eq=False)
class Evaluate(Section):
    """The FMO deblurring benchmark (``evaluate``): datasets, background model, methods, compositing; the
    detector of ``deblur``."""

    NESTED: ClassVar[dict] = {"detect": Detect.from_dict, "footage": Footage.from_dict}

    datasets: FrozenMap
    background_window: int
    background_variants: tuple[int, ...]
    methods: tuple[str, ...]
    original_weights: str | None
    oversample: int
    composite: str
    max_frames: int | None
    real_examples: str
    real_clips: tuple

    def clips(self) -> dict[str, int | None]:
        """``real_clips`` as clip name -> its own ``min_track`` (None: ``detect.min_track``)."""
        return {c["name"]: c.get("min_track") for c in self.real_clips}
    detect: Detect
    footage: Footage


@dataclass(frozen=True, eq=False)
class Ablate(Section):
    """The memory ablation (``ablate``, report Table 4): its grid and each cell's settings."""

    approaches: tuple[str, ...]
    techniques: tuple[str, ...]
    batch_size: int
    steps: int
    resolution: int
    n_subframes: int
    sample_interval_s: float
    timeout_s: float
    repeats: int


@dataclass(frozen=True, eq=False)
class Quality(Section):
    """The code-quality report (``quality``, report Table 5)."""

    exclude: tuple[str, ...]
    compare: FrozenMap
    worst: int
    max_cc: int
    min_mi: float


@dataclass(frozen=True, eq=False)
class Seeds(Section):
    """The seed study (``seeds``): each approach trained from ``count`` seeds on a schedule cut at ``steps``,
    compared by the t-interval over seeds of the per-seed mean paired difference at ``confidence``."""

    count: int
    approaches: tuple[str, ...]
    steps: int | None
    confidence: float

    def values(self, base: int) -> tuple[int, ...]:
        """The seeds of the study: ``base``, ``base + 1``, ... (``base`` is params.yaml's ``seed``)."""
        return tuple(base + k for k in range(self.count))


@dataclass(frozen=True, eq=False)
class Config(Section):
    """The resolved configuration of one run: the top-level keys, one object per section, the scale blocks.

    ``scales`` keeps params.yaml's per-scale blocks as read (frozen), so :meth:`to_dict` is the resolved dict.
    """

    NESTED: ClassVar[dict] = {
        "data": Data.from_dict, "benchmark_data": BenchmarkData.from_dict, "model": Model.from_dict,
        "train": Train.from_dict, "evaluate": Evaluate.from_dict, "ablate": Ablate.from_dict,
        "quality": Quality.from_dict, "seeds": Seeds.from_dict,
    }

    scale: str
    seed: int
    device: str
    threads: int
    data: Data
    benchmark_data: BenchmarkData
    model: Model
    train: Train
    evaluate: Evaluate
    ablate: Ablate
    quality: Quality
    seeds: Seeds
    scales: FrozenMap

    def approach(self, name: str) -> Approach:
        """The approach ``name`` (``train.approach.<name>``); an undefined one is a :class:`UserError`."""
        return self.train.spec(name)


def model_of(cfg: Config | Mapping) -> Model:
    """The ``model`` section of a :class:`Config`, or of a plain config dict (a checkpoint's, a test's)."""
    if isinstance(cfg, Config):
        return cfg.model
    return Model.from_saved(cfg["model"])


def as_dict(cfg: Config | Mapping) -> dict:
    """The plain dict of a :class:`Config` or of a mapping (for files, checkpoints, Snakemake params)."""
    return plain(cfg)
