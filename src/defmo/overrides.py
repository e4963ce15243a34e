"""The user's overrides of one Snakemake run, as one nested mapping (``workflow/rules/common.smk``).

Snakemake hands over its ``--configfile`` files and ``--config`` entries separately, and leaves nested
``--config`` values as strings: :func:`user_overrides` reads the files in order, then the entries (each string
re-read as YAML, :func:`parse_cli_config`), deep-merged. :func:`defmo.config.resolve_with` then merges the
result over ``params.yaml`` and its scale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from defmo.config import ConfigError, deep_merge


def _parse_cli_value(value: Any, key: str) -> Any:
    """Re-read the strings Snakemake's ``--config`` leaves (nested values arrive as strings) as YAML."""
    if isinstance(value, dict):
        return {k: _parse_cli_value(v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_parse_cli_value(v, key) for v in value]
    if not isinstance(value, str):
        return value
    try:
        return yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"--config {key}: '{value}' is not valid YAML ({exc.__class__.__name__}); write the nested "
            f"override in a file and pass it with --configfile (e.g. `evaluate: {{background_window: 7}}`)"
        ) from exc


def parse_cli_config(entries: Mapping[str, Any]) -> dict:
    """Snakemake's parsed ``--config`` entries with every string re-read as YAML (``'7'`` -> ``7``)."""
    return {key: _parse_cli_value(value, key) for key, value in dict(entries).items()}


def user_overrides(configfiles: Iterable[str | Path] = (), cli: Mapping[str, Any] | None = None) -> dict:
    """Snakemake's ``--configfile`` files (in order), then its ``--config`` entries, deep-merged."""
    out: dict = {}
    for path in configfiles:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"--configfile {path}: must be a YAML mapping of params.yaml's sections")
        out = deep_merge(out, loaded)
    return deep_merge(out, parse_cli_config(cli or {}))
