"""What an evaluation writes, for the ``evaluate`` verb, the Snakemake rules and the scripts reading it.

- :func:`variant_path`: the file of the run with background window W is ``<stem>_w<W><suffix>`` next to the
  main window's file (``proposed.json`` -> ``proposed_w5.json``);
- :func:`is_fitted`, :func:`approach_of`, :func:`fitted_methods`: the ``<approach>+fit`` methods, a trained
  network scored with its fit at inference beside the network alone;
- :func:`is_quoted`: whether a method's numbers are quoted from DeFMO's paper instead of computed (the
  original DeFMO when ``evaluate.original_weights`` is null), so it has no data, model, window variants or figure.

Both take Snakemake patterns as well as paths, so the workflow builds its file lists from the same rules.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

PathOrStr = TypeVar("PathOrStr", str, Path)
QUOTABLE = "original"  # the one method whose numbers can come from its paper
FIT_SUFFIX = "+fit"  # method "<approach>+fit": the approach's network plus its fit at inference


def variant_path(path: PathOrStr, window: int | str, main_window: int | None = None) -> PathOrStr:
    """Where the result for background window ``window`` goes: ``a/b.json`` -> ``a/b_w5.json``.

    ``path`` is the main window's file (a str, kept a str, or a Path); with ``main_window`` given, the main
    window itself maps to ``path`` unchanged. ``window`` may be a Snakemake wildcard such as ``"{w}"``.
    """
    if main_window is not None and window == main_window:
        return path
    head, tail = os.path.split(str(path))
    stem, suffix = os.path.splitext(tail)
    out = os.path.join(head, f"{stem}_w{window}{suffix}")
    return Path(out) if isinstance(path, Path) else out


def is_quoted(method: str, cfg: Mapping) -> bool:
    """Whether ``method``'s numbers are DeFMO's paper's, quoted, rather than computed: ``original`` when
    the resolved config ``cfg`` gives no ``evaluate.original_weights``.

    ``cfg`` is read as a mapping: the plain resolved dict (``Config.to_dict()``, or Snakemake's,
    workflow/rules/common.smk)."""
    return method == QUOTABLE and cfg["evaluate"]["original_weights"] is None


def is_fitted(method: str) -> bool:
    """Whether ``method`` is a trained approach scored with its fit at inference (``defmo+fit``)."""
    return method.endswith(FIT_SUFFIX)


def approach_of(method: str) -> str:
    """The trained approach behind ``method``: ``proposed+fit`` -> ``proposed``; any other name unchanged."""
    return method[: -len(FIT_SUFFIX)] if is_fitted(method) else method


def fitted_methods(approaches: list[str], cfg: Mapping) -> list[str]:
    """``<approach>+fit`` for each of ``approaches`` when the resolved config ``cfg`` (a mapping) fits at
    inference (``model.fit_steps`` > 0), else none."""
    return [a + FIT_SUFFIX for a in approaches] if cfg["model"]["fit_steps"] else []
