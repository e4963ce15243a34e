"""Overrides (`--configfile`, nested `--config`) and params.yaml edits rerun exactly the jobs that read them.

Two starting points at the tiny scale, every output present: a fresh clone (no `.snakemake/`, so no metadata of an
earlier run; every file written at one instant and the committed records results/config/<phase>.yaml last), and a
checkout where `snakemake --touch` recorded every job (metadata present). From both, each override's dry run must
schedule exactly the jobs that read the overridden values and what follows them, rewrite the records of exactly
the phases that read them, and hand the jobs a resolved config holding the value; without one, nothing runs.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from helpers import fresh_clone, run, scheduled, scheduled_records, set_param

DATA_RULES = {"render", "render_benchmark", "figure_samples"}
EVAL_RULES = {"config_phase", "evaluate_method", "evaluate_quoted", "table3", "figure_benchmark", "deblur_real",
              "report_md", "all"}
TRAIN_RULES = {"config_phase", "train_approach", "figure_curves", "table2", "ablate_cell", "table4", "figure_memory",
               "evaluate_method", "table3", "figure_benchmark", "deblur_real", "deblur_footage", "footage_figure", "footage_table",
               "report_md", "all"}
# the seed study reads the benchmark's window and every training value; `all` rewrites its record (not its own copy)
EVAL_RECORDS = {"evaluate", "report", "seeds"}
TRAIN_RECORDS = {"train", "ablate", "report", "seeds"}
SEED_RULES = {"config_phase", "seed_train", "seed_evaluate", "seeds_table", "seeds_record", "seeds"}
EVAL_OVERRIDE = "evaluate: {background_window: 7}\n"
TRAIN_OVERRIDE = "train: {lr_g: 0.0005}\n"


def dry_run(repo: Path, *extra: str) -> str:
    return run(["snakemake", "-n", "-p", *extra], repo).stdout


def config_files(out: str, verb: str) -> set[str]:
    """The --config-file of every printed command of ``verb``."""
    return set(re.findall(rf"--config-file (\S+) {verb} ", out))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    repo = fresh_clone(tmp_path_factory.mktemp("fresh") / "repo", scale="tiny")
    assert not (repo / ".snakemake").exists()
    return repo


@pytest.fixture(scope="module")
def touched(tmp_path_factory) -> Path:
    repo = fresh_clone(tmp_path_factory.mktemp("touched") / "repo", scale="tiny")
    run(["snakemake", "--touch", "--forceall", "--cores", "1"], repo)  # forced: records every job's metadata
    assert any((repo / ".snakemake" / "metadata").iterdir())
    return repo


@pytest.fixture(params=["fresh", "touched"])
def start(request) -> Path:
    """Each starting point in turn; a test leaves it as it found it (dry runs only, or restored)."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def override(tmp_path) -> callable:
    def write(text: str) -> str:
        path = tmp_path / "my-overrides.yaml"
        path.write_text(text)
        return str(path)

    return write


def resolved(repo: Path, out: str, verb: str) -> dict:
    files = config_files(out, verb)
    assert len(files) == 1, f"{verb}: expected one resolved config, got {files}"
    return yaml.safe_load((repo / files.pop()).read_text())


def test_without_an_override_nothing_runs(start):
    """A fresh clone's file times (records written after the results) rerun nothing."""
    assert "Nothing to be done" in dry_run(start)


def test_an_eval_override_reruns_the_evaluation_only_and_reaches_its_jobs(start, override):
    out = dry_run(start, "--configfile", override(EVAL_OVERRIDE))
    assert scheduled(out) == EVAL_RULES
    assert scheduled_records(out) == EVAL_RECORDS
    cfg = resolved(start, out, "evaluate")
    assert cfg["evaluate"]["background_window"] == 7
    assert cfg["evaluate"]["background_variants"] == []  # the tiny scale block's value, merged under the override
    assert cfg["evaluate"]["methods"] == yaml.safe_load((start / "params.yaml").read_text())["evaluate"]["methods"]


def test_a_train_override_reruns_training_and_what_follows_not_the_data(start, override):
    out = dry_run(start, "--configfile", override(TRAIN_OVERRIDE))
    assert scheduled(out) == TRAIN_RULES
    assert not scheduled(out) & DATA_RULES
    assert scheduled_records(out) == TRAIN_RECORDS
    cfg = resolved(start, out, "train")
    assert cfg["train"]["lr_g"] == 0.0005
    assert cfg["train"]["approach"]["defmo"]["epochs"] == 1  # tiny's value kept beside the override


def test_an_override_s_dry_run_leaves_nothing_to_do_behind(start, override):
    dry_run(start, "--configfile", override(EVAL_OVERRIDE + TRAIN_OVERRIDE))
    assert "Nothing to be done" in dry_run(start)


def test_the_seed_study_is_current_in_a_fresh_clone(fresh):
    assert "Nothing to be done" in dry_run(fresh, "seeds")


def test_a_seeds_override_reruns_the_seed_table_only(fresh, override):
    out = dry_run(fresh, "seeds", "--configfile", override("seeds: {confidence: 0.9}\n"))
    assert scheduled(out) == {"config_phase", "seeds_table", "seeds_record", "seeds"}
    assert scheduled_records(out) == {"seeds"}


def test_a_train_override_retrains_every_seed_run_not_the_data(fresh, override):
    out = dry_run(fresh, "seeds", "--configfile", override(TRAIN_OVERRIDE))
    assert scheduled(out) == SEED_RULES and not scheduled(out) & DATA_RULES
    assert len(re.findall(r"^rule seed_train:", out, re.M)) == 4  # tiny: 2 approaches x 2 seeds
    assert resolved(fresh, out, "train")["train"]["lr_g"] == 0.0005


def test_one_approach_s_value_retrains_that_approach_only(fresh):
    out = dry_run(fresh, "--config", "train={approach: {proposed: {epochs: 2}}}")
    assert scheduled(out) >= {"train_approach", "report_md"} and not scheduled(out) & DATA_RULES
    assert re.findall(r"wildcards: phase=train, approach=(\w+)", out) == ["proposed"]


def test_a_params_yaml_edit_reruns_like_the_override(fresh):
    params = (fresh / "params.yaml").read_text()
    try:
        set_param(fresh, "evaluate.background_window", "7")
        out = dry_run(fresh)
        assert scheduled(out) == EVAL_RULES and scheduled_records(out) == EVAL_RECORDS
    finally:
        (fresh / "params.yaml").write_text(params)
    assert "Nothing to be done" in dry_run(fresh)


def test_both_overrides_together(fresh, override):
    out = dry_run(fresh, "--configfile", override(EVAL_OVERRIDE + TRAIN_OVERRIDE))
    assert scheduled(out) == EVAL_RULES | TRAIN_RULES
    for verb in ("evaluate", "train", "ablate", "report"):
        cfg = resolved(fresh, out, verb)
        assert (cfg["evaluate"]["background_window"], cfg["train"]["lr_g"]) == (7, 0.0005), verb


def test_nested_config_strings_resolve_like_the_configfile(fresh, override):
    """`--config 'evaluate={background_window: 7}'` arrives as strings; it must give the same resolved file."""
    by_file = dry_run(fresh, "--configfile", override(EVAL_OVERRIDE + TRAIN_OVERRIDE))
    by_cli = dry_run(fresh, "--config", "evaluate={background_window: 7}", 'train={"lr_g": 0.0005}')
    assert config_files(by_cli, "evaluate") == config_files(by_file, "evaluate")
    assert scheduled(by_cli) == scheduled(by_file)


def test_a_user_override_wins_over_the_scale_block(fresh, override):
    """tiny's block sets evaluate.background_variants: []; the user's value wins (and adds the variant records)."""
    out = dry_run(fresh, "--configfile", override("evaluate: {background_variants: [3]}\n"))
    assert resolved(fresh, out, "evaluate")["evaluate"]["background_variants"] == [3]


def test_a_malformed_nested_config_is_refused_before_any_job(fresh):
    proc = run(["snakemake", "-n", "--config", "evaluate={background_window: 7"], fresh, check=False)
    assert proc.returncode != 0
    assert "--configfile" in proc.stdout + proc.stderr


def test_a_record_rewritten_by_an_earlier_run_still_reruns_its_readers(tmp_path, override):
    """`dvc repro`'s flow: the config stage rewrites the records, then each stage runs its phase's target; and
    going back to params.yaml's values reruns the same jobs again."""
    repo = fresh_clone(tmp_path / "repo", scale="tiny")
    over = override(EVAL_OVERRIDE)
    run(["snakemake", "--cores", "1", "config", "--configfile", over], repo)  # writes results/config/ only
    shutil.rmtree(repo / ".snakemake")  # no metadata either way
    assert yaml.safe_load((repo / "results/config/evaluate.yaml").read_text())["evaluate"]["background_window"] == 7
    out = dry_run(repo, "evaluate", "--configfile", over)
    assert scheduled(out) == EVAL_RULES - {"report_md", "all", "config_phase"} | {"evaluate"}
    out = dry_run(repo)
    assert scheduled(out) == EVAL_RULES and scheduled_records(out) == EVAL_RECORDS
