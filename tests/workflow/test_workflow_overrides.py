"""User overrides (`--configfile`, nested `--config`) reach the jobs that read them, and rerun only those.

A temp copy of the repository at the tiny scale gets every output as a placeholder, then `snakemake --touch`
records them (with their params) as up to date; each override's dry run must then schedule exactly the jobs
that read the overridden section and what follows them, and hand them a resolved config holding the value.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from helpers import copy_repo, run

TINY = ["--config", "scale=tiny"]  # a second --config flag would replace this one: pass entries after it
DATA_RULES = {"render", "render_benchmark", "figure_samples"}
# `config` (what each phase reads, for DVC) reads every value: any override reruns it.
EVAL_RULES = {"config", "evaluate_method", "evaluate_quoted", "table3", "figure_benchmark", "deblur_real", "report",
              "all"}
TRAIN_RULES = {"config", "train_approach", "figure_curves", "table2", "ablate_cell", "table4", "figure_memory",
               "evaluate_method", "table3", "figure_benchmark", "deblur_real", "report", "all"}


def dry_run(repo: Path, *extra: str) -> str:
    return run(["snakemake", "-n", "-p", *TINY, *extra], repo).stdout


def scheduled(out: str) -> set[str]:
    return set(re.findall(r"^(?:local)?rule (\w+):", out, re.M))


def config_files(out: str, verb: str) -> set[str]:
    """The --config-file of every printed command of ``verb``."""
    return set(re.findall(rf"--config-file (\S+) {verb} ", out))


def make_placeholders(repo: Path, out: str) -> None:
    for line in out.splitlines():
        if not line.strip().startswith("output:"):
            continue
        for name in line.split(":", 1)[1].split(","):
            path = repo / name.strip()
            if path.suffix:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch()
            else:  # directory() outputs: data/synthetic/<split>, data/benchmark/<dataset>, results/evaluate/deblur
                path.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    repo = copy_repo(tmp_path_factory.mktemp("overrides"))
    make_placeholders(repo, dry_run(repo, "--forceall"))
    run(["snakemake", "--touch", "--forceall", "--cores", "1", *TINY], repo)  # forced: records every job's params
    assert "Nothing to be done" in dry_run(repo), "the touched state is not up to date"
    return repo


@pytest.fixture
def override(built, tmp_path) -> callable:
    def write(text: str) -> str:
        path = tmp_path / "my-overrides.yaml"
        path.write_text(text)
        return str(path)

    return write


def resolved(repo: Path, out: str, verb: str) -> dict:
    files = config_files(out, verb)
    assert len(files) == 1, f"{verb}: expected one resolved config, got {files}"
    return yaml.safe_load((repo / files.pop()).read_text())


def test_an_eval_override_reruns_the_evaluation_only_and_reaches_its_jobs(built, override):
    out = dry_run(built, "--configfile", override("evaluate: {background_window: 7}\n"))
    assert scheduled(out) == EVAL_RULES
    cfg = resolved(built, out, "evaluate")
    assert cfg["evaluate"]["background_window"] == 7
    assert cfg["evaluate"]["background_variants"] == []  # the tiny scale block's value, merged under the override
    assert cfg["evaluate"]["methods"] == yaml.safe_load((built / "params.yaml").read_text())["evaluate"]["methods"]


def test_a_train_override_reruns_training_and_what_follows_not_the_data(built, override):
    out = dry_run(built, "--configfile", override("train: {lr_g: 0.0005}\n"))
    assert scheduled(out) == TRAIN_RULES
    assert not scheduled(out) & DATA_RULES
    cfg = resolved(built, out, "train")
    assert cfg["train"]["lr_g"] == 0.0005
    assert cfg["train"]["approach"]["defmo"]["epochs"] == 1  # tiny's value kept beside the override


def test_both_overrides_together(built, override):
    out = dry_run(built, "--configfile", override("evaluate: {background_window: 7}\ntrain: {lr_g: 0.0005}\n"))
    assert scheduled(out) == EVAL_RULES | TRAIN_RULES
    for verb in ("evaluate", "train", "ablate", "report"):
        cfg = resolved(built, out, verb)
        assert (cfg["evaluate"]["background_window"], cfg["train"]["lr_g"]) == (7, 0.0005), verb


def test_nested_config_strings_resolve_like_the_configfile(built, override):
    """`--config 'evaluate={background_window: 7}'` arrives as strings; it must give the same resolved file."""
    by_file = dry_run(built, "--configfile", override("evaluate: {background_window: 7}\ntrain: {lr_g: 0.0005}\n"))
    by_cli = dry_run(built, "evaluate={background_window: 7}", 'train={"lr_g": 0.0005}')  # more --config entries
    assert config_files(by_cli, "evaluate") == config_files(by_file, "evaluate")
    assert scheduled(by_cli) == scheduled(by_file)


def test_a_user_override_wins_over_the_scale_block(built, override):
    """tiny's block sets evaluate.background_variants: []; the user's value wins (and adds the variant records)."""
    out = dry_run(built, "--configfile", override("evaluate: {background_variants: [3]}\n"))
    assert resolved(built, out, "evaluate")["evaluate"]["background_variants"] == [3]


def test_a_malformed_nested_config_is_refused_before_any_job(built):
    proc = run(["snakemake", "-n", *TINY, "evaluate={background_window: 7"], built, check=False)
    assert proc.returncode != 0
    assert "--configfile" in proc.stdout + proc.stderr
