"""Load, resolve and validate ``params.yaml``: the one source of truth for Snakemake, DVC and the CLI.

The raw file holds the default run's values (the cpu scale) in its top-level sections and per-scale
overrides under ``scales.<name>``; :func:`resolve` deep-merges the chosen scale over the top level and validates the
result against the package's schema, ``defmo/schemas/params.schema.yaml`` (one file per section under
``sections/``; the Snakefile relies on this module rather than validating again). Every error names the
offending key and says what to do, before any work starts.

This module is the one place that validates: each entry point (:func:`load`, :func:`resolve`,
:func:`resolve_with`, :func:`load_resolved`) checks the plain dict (schema, then the cross-key checks) and
builds the typed, frozen :class:`~defmo.settings.Config` from it once; stages read its attributes and
``Config.to_dict()`` gives back the plain resolved dict. Snakemake's ``--configfile``/``--config`` reach
:func:`resolve_with` as one mapping (:func:`defmo.overrides.user_overrides`).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import logging
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from defmo.errors import UserError
from defmo.settings import Config, as_dict

log = logging.getLogger(__name__)

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"  # package data (pyproject.toml)
SCHEMA_FILE = "params.schema.yaml"
KNOWN_METHODS = ("image", "background", "original")  # besides trained approaches


class ConfigError(UserError):
    """A params.yaml problem; the message names the file and key."""


def _schema_registry(schema_dir: Path) -> tuple[dict, Registry]:
    def load(path: Path) -> dict:
        return yaml.safe_load(path.read_text())

    resources = []
    for path in sorted(schema_dir.rglob("*.schema.yaml")):
        doc = load(path)
        doc.setdefault("$id", path.resolve().as_uri())
        resources.append((doc["$id"], Resource.from_contents(doc)))
    root = load(schema_dir / SCHEMA_FILE)
    root["$id"] = (schema_dir / SCHEMA_FILE).resolve().as_uri()
    return root, Registry().with_resources(resources)


def _key_path(error) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "<top level>"


def _describe(error) -> str:
    """One line per violation; unknown keys are named in full with the allowed ones."""
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        unknown = sorted(k for k in error.instance if k not in allowed)
        prefix = _key_path(error) + "." if error.absolute_path else ""
        return "; ".join(
            f"  - key '{prefix}{k}': unknown key (allowed here: {', '.join(sorted(allowed))})" for k in unknown
        )
    return f"  - key '{_key_path(error)}': {error.message}"


def validate(cfg: dict, source: str = "params.yaml", schema_dir: Path = SCHEMA_DIR) -> None:
    """Raise :class:`ConfigError` listing every schema violation of ``cfg`` by key path."""
    root, registry = _schema_registry(schema_dir)
    validator = Draft202012Validator(root, registry=registry)
    errors = sorted(validator.iter_errors(cfg), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = [_describe(e) for e in errors]
        raise ConfigError(
            f"{source} is invalid (schema: defmo/schemas/{SCHEMA_FILE}):\n"
            + "\n".join(lines)
            + "\nFix these keys in params.yaml (or the --config/--set override) and run again."
        )


def deep_merge(base: dict, override: dict) -> dict:
    """Return ``base`` with ``override`` merged in recursively (mappings merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _set_dotted(cfg: dict, dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = cfg
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict):
            raise ConfigError(f"override '{dotted}': '{key}' is not a section of params.yaml")
        node = node[key]
    node[keys[-1]] = value


def apply_overrides(raw: dict, overrides: Iterable[str]) -> dict:
    """Apply ``key.path=value`` strings (values parsed as YAML) to a copy of the raw params."""
    out = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like key.path=value")
        key, text = item.split("=", 1)
        _set_dotted(out, key.strip(), yaml.safe_load(text))
    return out


def _check_model(model: dict, source: str) -> None:
    """The fit at inference places the object generator's template: no other generator has one."""
    if model["fit_steps"] and model["generator"] != "object":
        raise ConfigError(f"{source}: key 'model.fit_steps' = {model['fit_steps']} needs 'model.generator: object' "
                          f"(the fit places the object's template; this generator is {model['generator']!r}): "
                          "set model.fit_steps: 0")


def _check_semantics(cfg: dict, source: str) -> None:
    """Cross-key checks the schema cannot express."""
    approaches = cfg["train"]["approach"]
    for section, key in (("train", "approaches"), ("ablate", "approaches"), ("seeds", "approaches")):
        for name in cfg[section][key]:
            if name not in approaches:
                raise ConfigError(
                    f"{source}: key '{section}.{key}' names '{name}', which is not defined under "
                    f"'train.approach' (defined: {', '.join(approaches)})"
                )
    for name in cfg["evaluate"]["methods"]:
        if name not in approaches and name not in KNOWN_METHODS:
            raise ConfigError(
                f"{source}: key 'evaluate.methods' names '{name}': use a trained approach "
                f"({', '.join(approaches)}) or one of {', '.join(KNOWN_METHODS)}"
            )
    _check_model(cfg["model"], source)
    path = cfg["data"]["trajectory"]
    if path["bounce"] + path["curve"] > 1:
        raise ConfigError(f"{source}: keys 'data.trajectory.bounce' + 'data.trajectory.curve' = "
                          f"{path['bounce'] + path['curve']:g} exceed 1 (they are shares of the paths)")
    for name, weights in approaches.items():
        if not {"F", "C"} & set(weights["losses"]):
            raise ConfigError(f"{source}: key 'train.approach.{name}.losses' lacks a supervised loss (F; or C, "
                              "the metric probe)")


def build(cfg: dict) -> Config:
    """The typed configuration of a resolved, validated dict (built once per entry point, then passed on)."""
    return Config.from_dict(cfg)


def resolve(raw: dict, scale: str | None = None, source: str = "params.yaml") -> Config:
    """Merge ``scales[scale]`` (default: ``raw['scale']``) over the top level, validate, build the :class:`Config`.

    Its sections are the merged ones, ``scale`` the scale used and ``scales`` the raw blocks, kept so that
    ``to_dict()`` validates against the same schema.
    """
    return build(_resolve(raw, scale, source))


def _resolve(raw: dict, scale: str | None, source: str) -> dict:
    """:func:`resolve`'s plain dict."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source} must be a YAML mapping of sections")
    validate(raw, source)
    scale = scale or raw["scale"]
    scales = raw["scales"]
    if scale not in scales:
        raise ConfigError(f"{source}: key 'scale' is '{scale}', but 'scales' defines only: {', '.join(scales)}")
    top = {k: v for k, v in raw.items() if k != "scales"}
    if scale == raw["scale"]:
        hidden = shadowed(top, scales[scale])
        if hidden:
            log.warning("%s: the default run (scale %s) does not use the top-level %s: scales.%s sets %s. Edit "
                        "them in scales.%s, or move them to the top level.", source, scale, ", ".join(hidden),
                        scale, "them" if len(hidden) > 1 else "it", scale)
    cfg = deep_merge(top, scales[scale])
    cfg["scale"] = scale
    cfg["scales"] = raw["scales"]
    validate(cfg, f"{source} (after merging scales.{scale})")
    _check_semantics(cfg, source)
    return cfg


def shadowed(top: dict, block: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose top-level value in ``top`` the scale ``block`` replaces with a different one.

    Example:
        >>> shadowed({"data": {"resolution": 96, "workers": 2}}, {"data": {"resolution": 64, "workers": 2}})
        ['data.resolution']
    """
    out = []
    for key, value in block.items():
        here = top.get(key)
        if isinstance(value, dict) and isinstance(here, dict):
            out += shadowed(here, value, f"{prefix}{key}.")
        elif key in top and here != value:
            out.append(f"{prefix}{key}")
    return out


def load(path: str | Path = "params.yaml", scale: str | None = None, overrides: Iterable[str] = ()) -> Config:
    """Read ``path``, apply ``key=value`` overrides, resolve the scale and validate."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such params file (run from the repository root or pass --params)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    # `scale`/`scales.*` overrides change what is merged; all others win over the merged scale's values.
    overrides = list(overrides)
    early = [o for o in overrides if o.split("=", 1)[0].strip().split(".")[0] in ("scale", "scales")]
    late = [o for o in overrides if o not in early]
    cfg = _resolve(apply_overrides(raw or {}, early), scale, source=str(path))
    if late:
        cfg = apply_overrides(cfg, late)
        validate(cfg, f"{path} (with --set overrides)")
        _check_semantics(cfg, str(path))
    return build(cfg)


# --- Snakemake: resolve once per run (params.yaml < scales.<scale> < --configfile/--config), hand jobs a file ---

EARLY_KEYS = ("scale", "scales")  # overrides that change what is merged, not the merged result


def _check_sections(raw: dict, overrides: dict, source: str) -> None:
    """A section of params.yaml can only be overridden by a mapping, merged into it key by key."""
    for key, value in overrides.items():
        if isinstance(raw.get(key), dict) and not isinstance(value, dict):
            raise ConfigError(
                f"{source}: key '{key}' is a section of params.yaml, but the override gives {value!r}; "
                f"override its keys with a mapping: --configfile overrides.yaml holding `{key}: {{...}}`, "
                f"or --config '{key}={{name: value}}'"
            )


def resolve_with(raw: dict, overrides: Mapping[str, Any], scale: str | None = None,
                 source: str = "params.yaml") -> Config:
    """``raw`` (params.yaml), then ``scales.<scale>``, then ``overrides``: the override wins, then the scale.

    ``scale`` and ``scales`` in ``overrides`` change which scale block is merged and what it holds; every other
    key is merged over the resolved result, so it wins over the scale block's value too. An explicit
    ``scale`` argument wins over both (Table 2's paper column).
    """
    overrides = dict(overrides)
    _check_sections(raw, overrides, f"{source} (overrides)")
    early = {k: v for k, v in overrides.items() if k in EARLY_KEYS}
    late = {k: v for k, v in overrides.items() if k not in EARLY_KEYS}
    cfg = _resolve(deep_merge(raw, early), scale, source)
    if late:
        cfg = deep_merge(cfg, late)
        validate(cfg, f"{source} (with the --config/--configfile overrides)")
        _check_semantics(cfg, source)
    return build(cfg)


RESOLVED_HEADER = (
    "# The resolved configuration of one Snakemake run (params.yaml, its scale, then --configfile/--config).\n"
    "# Written by workflow/rules/common.smk, read by `python -m defmo --config-file`; do not edit.\n"
)


def write_resolved(cfg: Config | dict, folder: str | Path) -> Path:
    """Write ``cfg`` to ``folder/<scale>-<hash>.yaml`` (named by its content, so never rewritten) and return the path."""
    plain = as_dict(cfg)
    text = RESOLVED_HEADER + yaml.safe_dump(plain, sort_keys=False)
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = Path(folder) / f"{plain['scale']}-{digest}.yaml"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return path


def _check_resolved(text: str, raw: dict, path: Path) -> None:
    """Refuse a params file given where a resolved configuration is expected: a resolved file starts with
    :data:`RESOLVED_HEADER` (:func:`write_resolved`); a params file has ``scales:`` blocks not yet applied."""
    if text.startswith(RESOLVED_HEADER):
        return
    kind = "a params file" if isinstance(raw.get("scales"), dict) else "not a file the workflow wrote"
    raise ConfigError(f"{path}: this is {kind}, not a resolved configuration (written by the workflow under "
                      f"results/config/run/). Pass a params file with --params {path} (and --scale NAME), not "
                      "--config-file.")


def load_resolved(path: str | Path, overrides: Iterable[str] = ()) -> Config:
    """Read a resolved configuration (:func:`write_resolved`) as is, apply ``key=value`` overrides, validate."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such resolved config file (Snakemake writes it when it reads the workflow)")
    text = path.read_text()
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    _check_resolved(text, raw, path)
    cfg = apply_overrides(raw, overrides)
    validate(cfg, str(path))
    _check_semantics(cfg, str(path))
    return build(cfg)


# --- The report's values (Table 2's paper column) next to the run's scale ---


def paper_config(args: argparse.Namespace, cfg: Config) -> Config:
    """The report's values: ``--paper-config`` (Snakemake resolves it), else the ``paper`` scale of the same
    params file and overrides (``cfg`` if it is it)."""
    if cfg.scale == "paper" or "paper" not in cfg.scales:
        return cfg
    if getattr(args, "paper_config", None) is not None:
        return load_resolved(args.paper_config)
    return load(args.params, "paper", args.overrides)


def add_paper_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--paper-config", type=Path, default=None,
                        help="the resolved paper-scale configuration (Table 2's report values; Snakemake writes it); "
                             "default: the paper scale of --params")
