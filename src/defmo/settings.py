"""The resolved configuration as typed, frozen objects: one dataclass per section of ``params.yaml``.

:mod:`defmo.config` resolves and validates ``params.yaml`` once (schema and cross-key checks) and builds a
:class:`Config` from the result; every stage then reads attributes (``cfg.train.lr_g``) instead of looking
keys up in a nested dict. An approach is one :class:`Approach` (epochs, batch size, its own LR step, named
loss weights). :data:`LOSSES` is the one table of the loss symbols (the report's, used as keys in
``params.yaml``) and their full names.

The objects are frozen: a variant (an ablation cell, another generator) is made with
:func:`dataclasses.replace`. Lists become :class:`FrozenList` (tuples equal to the list) and mappings
:class:`FrozenMap`; :meth:`Section.to_dict` gives back the plain resolved dict (what Snakemake's rule params,
the resolved file and the checkpoints store). Sections also read as read-only mappings
(``cfg["train"]["lr_g"]``), equal to the plain dict they came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from typing import Any, ClassVar, Iterator

from defmo.errors import UserError

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


class SettingsError(UserError):
    """A configuration that does not fit its section: the message names the key."""


class FrozenMap(Mapping):
    """A read-only mapping that keeps its keys' order (a section's free-form table: datasets, approaches)."""

    def __init__(self, data: Mapping | None = None) -> None:
        self._data = dict(data or {})

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self) -> Iterator:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __eq__(self, other) -> bool:
        return isinstance(other, Mapping) and plain(self) == plain(other)

    __hash__ = None

    def __repr__(self) -> str:
        return f"FrozenMap({self._data!r})"


class FrozenList(tuple):
    """A list of params.yaml, frozen: a tuple that still equals the list it came from (``== [3]``)."""

    def __eq__(self, other) -> bool:
        if isinstance(other, list):
            return tuple.__eq__(self, tuple(other))
        return tuple.__eq__(self, other)

    def __ne__(self, other) -> bool:
        return not self == other

    __hash__ = tuple.__hash__


def freeze(value: Any) -> Any:
    """``value`` with every list a :class:`FrozenList` and every mapping a :class:`FrozenMap` (recursively)."""
    if isinstance(value, Mapping) and not isinstance(value, Section):
        return FrozenMap({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return FrozenList(freeze(v) for v in value)
    return value


def plain(value: Any) -> Any:
    """The plain YAML/JSON form of ``value``: mappings as dicts, sequences as lists (recursively)."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


class Section(Mapping):
    """Base of the frozen section dataclasses: build from a mapping, read as one, give back a plain dict.

    Subclasses name the fields that hold another section in ``NESTED`` (field -> builder of its value).
    A field with ``metadata={"omit_none": True}`` is absent from the mapping view while it is None (an
    optional key of params.yaml that was not given).
    """

    NESTED: ClassVar[dict] = {}

    @classmethod
    def from_dict(cls, mapping: Mapping, where: str = "") -> "Section":
        """Build from ``mapping``; an unknown or missing key is a :class:`SettingsError` naming it."""
        prefix = f"{where}." if where else ""
        cls._check_keys(mapping, where, prefix)
        nested = cls.NESTED
        built = {k: nested[k](v, f"{prefix}{k}") if k in nested else freeze(v) for k, v in mapping.items()}
        return cls(**built)

    @classmethod
    def _check_keys(cls, mapping: Mapping, where: str, prefix: str) -> None:
        """The keys of ``mapping`` are exactly the fields (those with a default may be left out)."""
        if not isinstance(mapping, Mapping):
            raise SettingsError(f"key '{where or '<top level>'}' must be a mapping, not {mapping!r}")
        names = [f.name for f in fields(cls)]
        unknown = [k for k in mapping if k not in names]
        if unknown:
            allowed = ", ".join(sorted(names))
            raise SettingsError(f"key '{prefix}{unknown[0]}': unknown key (allowed here: {allowed})")
        missing = [k for k in cls._required() if k not in mapping]
        if missing:
            raise SettingsError(f"key '{prefix}{missing[0]}': missing")

    @classmethod
    def _required(cls) -> list[str]:
        """The fields without a default."""
        return [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]

    def _names(self) -> list[str]:
        return [f.name for f in fields(self)
                if not (f.metadata.get("omit_none") and getattr(self, f.name) is None)]

    def __getitem__(self, key: str):
        if key not in self._names():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())

    def __eq__(self, other) -> bool:
        return isinstance(other, Mapping) and plain(self) == plain(other)

    __hash__ = None

    def to_dict(self) -> dict:
        """The plain dict this section was built from (lists, dicts; keys in the section's order)."""
        return plain(self)

    def replace(self, **changes) -> "Section":
        """A copy with ``changes`` applied (the frozen way to make a variant)."""
        return replace(self, **changes)


def _table(builder):
    """Builder of a :class:`FrozenMap` of sections, one per key (``train.approach``)."""

    def build(mapping: Mapping, where: str) -> FrozenMap:
        if not isinstance(mapping, Mapping):
            raise SettingsError(f"key '{where}' must be a mapping, not {mapping!r}")
        return FrozenMap({name: builder.from_dict(spec, f"{where}.{name}") for name, spec in mapping.items()})

    return build


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

    # What a checkpoint written before a key existed was trained with.
    LEGACY: ClassVar[dict] = {"appearance": "image"}

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

    NESTED: ClassVar[dict] = {"approach": _table(Approach)}

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
        table = dict(self.approach)
        table[name] = replace(self.spec(name), **changes)
        return replace(self, approach=FrozenMap(table))


@dataclass(frozen=True, eq=False)
class Evaluate(Section):
    """The FMO deblurring benchmark (``evaluate``): datasets, background model, methods, compositing."""

    datasets: FrozenMap
    background_window: int
    background_variants: tuple[int, ...]
    methods: tuple[str, ...]
    original_weights: str | None
    oversample: int
    composite: str
    max_frames: int | None
    real_examples: str


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


@dataclass(frozen=True, eq=False)
class Quality(Section):
    """The code-quality report (``quality``, report Table 5)."""

    exclude: tuple[str, ...]
    compare: FrozenMap
    worst: int
    max_cc: int
    min_mi: float


@dataclass(frozen=True, eq=False)
class Config(Section):
    """The resolved configuration of one run: the top-level keys, one object per section, the scale blocks.

    ``scales`` keeps params.yaml's per-scale blocks as read (frozen), so :meth:`to_dict` is the resolved dict.
    """

    NESTED: ClassVar[dict] = {
        "data": Data.from_dict, "benchmark_data": BenchmarkData.from_dict, "model": Model.from_dict,
        "train": Train.from_dict, "evaluate": Evaluate.from_dict, "ablate": Ablate.from_dict,
        "quality": Quality.from_dict,
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
