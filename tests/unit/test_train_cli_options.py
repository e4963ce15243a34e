"""The train verb's per-run options (the seed study's): --seed and --max-steps replace the config's values, which
the checkpoint then records; bad values stop the run before any work."""

from __future__ import annotations

import argparse

import pytest

from defmo.config import load
from defmo.errors import UserError
from defmo.train.cli import with_run_options
from defmo.train.loop import make_plan


def _args(**kw):
    return argparse.Namespace(**{"seed": None, "max_steps": None, **kw})


def test_seed_and_max_steps_replace_the_config_s(repo):
    cfg = load(repo / "params.yaml", scale="cpu")
    run = with_run_options(cfg, _args(seed=7, max_steps=450))
    assert (run.seed, run.train.max_steps) == (7, 450)
    assert make_plan(run, "defmo", 2400, 1).total_steps == 450
    assert make_plan(cfg, "defmo", 2400, 1).total_steps == 900
    assert with_run_options(cfg, _args()).to_dict() == cfg.to_dict()


@pytest.mark.parametrize(("key", "value", "flag"), [("seed", -1, "--seed"), ("max_steps", 0, "--max-steps")])
def test_bad_run_options_are_named(repo, key, value, flag):
    cfg = load(repo / "params.yaml", scale="cpu")
    with pytest.raises(UserError, match=flag):
        with_run_options(cfg, _args(**{key: value}))
