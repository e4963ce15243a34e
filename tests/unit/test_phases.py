"""What each phase and rule reads (defmo.phases): the records, and the reads files whose times tell Snakemake
what reruns, compared by content with the records (no Snakemake metadata needed)."""

from __future__ import annotations

import dataclasses
import os
import time

import pytest
import yaml

from defmo.config import load
from defmo.phases import (RECORDED_MTIME, STUDIES, pick, RULE_READS, readers, record_keys, sync_reads, views,
                          write_views)


@pytest.fixture(scope="module")
def cfg(repo):
    return load(repo / "params.yaml", "tiny")


@pytest.fixture
def dirs(tmp_path):
    return tmp_path / "reads", tmp_path / "records"


def _write_records(cfg, records):
    """Every phase's record, and each study's own copy beside them (results/<study>/config/), as a run leaves them."""
    write_views(cfg, None, records)
    for study in STUDIES:
        write_views(cfg, None, records.parent / study / "config", (study,))


def _mtimes(folder):
    return {p.stem: p.stat().st_mtime for p in folder.glob("*.yaml")}


def _with(cfg, **sections):
    """``cfg`` with some keys of its sections replaced: ``evaluate={"background_window": 7}``."""
    return dataclasses.replace(cfg, **{name: getattr(cfg, name).replace(**keys) for name, keys in sections.items()})


def _past(folder, seconds=1000):
    for path in folder.glob("*.yaml"):
        t = path.stat().st_mtime
        if t != RECORDED_MTIME:
            os.utime(path, (t - seconds, t - seconds))


def test_every_reader_reads_keys_of_its_phase_s_record(cfg):
    plain = views(cfg, cfg)
    for reader, (phase, keys) in readers(cfg).items():
        assert pick(plain[phase], keys), reader  # a key the record lacks raises KeyError
        assert set(plain[phase]) == {k.split(".")[0] for k in record_keys(phase)}
    assert {f"train_approach-{a}" for a in cfg.train.approach} <= set(readers(cfg))
    per_approach = {"train_approach", "seed_train"}  # one reader per approach
    assert not per_approach & set(readers(cfg)) and set(RULE_READS) < set(readers(cfg)) | per_approach


def test_a_fresh_clone_dates_the_recorded_values_older_than_any_result(cfg, dirs):
    """No reads files yet and records holding the run's values: whatever the checkout's file order, nothing reruns."""
    reads, records = dirs
    _write_records(cfg, records)
    sync_reads(cfg, None, reads, records)
    assert set(_mtimes(reads).values()) == {RECORDED_MTIME}


def test_values_that_differ_from_the_record_are_dated_now_and_only_those(cfg, dirs):
    reads, records = dirs
    _write_records(cfg, records)
    sync_reads(cfg, None, reads, records)
    start = time.time() - 1
    out = sync_reads(_with(cfg, evaluate={"background_window": 7}), None, reads, records)
    now = {r for r, t in _mtimes(reads).items() if t >= start}
    assert now == {"evaluate_method", "evaluate_quoted", "table3", "figure_benchmark", "deblur_real", "report_md",
                   "config-evaluate", "config-report", "seed_evaluate", "seeds_record", "config-seeds"}
    assert out["table3"]["evaluate"]["background_window"] == 7
    assert yaml.safe_load((reads / "table3.yaml").read_text())["evaluate"]["background_window"] == 7


def test_one_approach_s_values_rerun_that_approach_only(cfg, dirs):
    reads, records = dirs
    _write_records(cfg, records)
    sync_reads(cfg, None, reads, records)
    start = time.time() - 1
    sync_reads(dataclasses.replace(cfg, train=cfg.train.with_approach("proposed", epochs=9)), None, reads, records)
    now = {r for r, t in _mtimes(reads).items() if t >= start}
    assert "train_approach-proposed" in now and "train_approach-defmo" not in now
    assert not now & {"render", "render_benchmark", "figure_samples", "figure_curves", "evaluate_method"}


def test_a_structural_value_rewrites_the_record_but_reruns_no_rule(cfg, dirs):
    """evaluate.datasets decides which benchmark folders exist (the data phase's record holds it); no job reads it."""
    reads, records = dirs
    _write_records(cfg, records)
    sync_reads(cfg, None, reads, records)
    start = time.time() - 1
    datasets = {**cfg.evaluate.datasets, "tbd": "/elsewhere"}
    sync_reads(_with(cfg, evaluate={"datasets": datasets}), None, reads, records)
    now = {r for r, t in _mtimes(reads).items() if t >= start}
    assert "config-data" in now and not now & {"render", "render_benchmark", "figure_samples"}


def test_a_rewritten_record_keeps_the_rerun_pending_until_the_rules_ran(cfg, dirs):
    """`dvc repro`: the config stage rewrites the record, a later Snakemake run must still rerun the readers."""
    reads, records = dirs
    _write_records(cfg, records)
    sync_reads(cfg, None, reads, records)
    changed = _with(cfg, evaluate={"background_window": 7})
    sync_reads(changed, None, reads, records)
    _past(reads)
    pending = _mtimes(reads)["table3"]
    assert pending > RECORDED_MTIME
    write_views(changed, None, records)  # the config job
    sync_reads(changed, None, reads, records)  # the next run: unchanged, so left as it was (newer than the results)
    assert _mtimes(reads)["table3"] == pending


def test_a_dry_run_with_other_values_leaves_no_rerun_behind(cfg, dirs):
    reads, records = dirs
    _write_records(cfg, records)
    sync_reads(cfg, None, reads, records)
    sync_reads(_with(cfg, evaluate={"background_window": 7}), None, reads, records)  # `snakemake -n --config ...`
    sync_reads(cfg, None, reads, records)  # back to the recorded values
    assert set(_mtimes(reads).values()) == {RECORDED_MTIME}


def test_values_that_still_differ_are_dated_now_at_every_run(cfg, dirs):
    """Until the record holds them (the config job failed, or `snakemake --touch` dated the record)."""
    reads, records = dirs
    _write_records(cfg, records)
    changed = _with(cfg, evaluate={"background_window": 7})
    sync_reads(changed, None, reads, records)
    _past(reads)
    for path in records.glob("*.yaml"):
        os.utime(path)  # touched, not rewritten
    start = time.time() - 1
    sync_reads(changed, None, reads, records)
    assert _mtimes(reads)["table3"] >= start and _mtimes(reads)["config-evaluate"] >= start


def test_no_record_reruns_every_reader(cfg, dirs):
    reads, records = dirs
    sync_reads(cfg, None, reads, records)
    assert RECORDED_MTIME not in set(_mtimes(reads).values())


def test_the_config_verb_writes_one_phase(repo, cfg, tmp_path):
    from defmo.cli import main

    argv = ["--params", str(repo / "params.yaml"), "--scale", "tiny", "config", "--phase", "evaluate"]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.glob("*.yaml")) == ["evaluate.yaml"]
    assert yaml.safe_load((tmp_path / "evaluate.yaml").read_text()) == views(cfg)["evaluate"]


def test_a_default_run_s_record_does_not_mark_the_seed_study_current(cfg, dirs, tmp_path):
    """`all` (or `config`) rewrites results/config/seeds.yaml without running the study: the study's rules still
    compare with its own copy, so in a fresh clone of that state they rerun and the record's own job does not."""
    reads, records = dirs
    _write_records(cfg, records)
    changed = dataclasses.replace(cfg, train=cfg.train.with_approach("defmo", epochs=3))
    write_views(changed, None, records)  # the default run's config jobs: the study's copy keeps the old values
    clone_reads = tmp_path / "clone_reads"  # a fresh clone: no reads files yet
    start = time.time() - 1
    sync_reads(changed, None, clone_reads, records)
    now = {r for r, t in _mtimes(clone_reads).items() if t >= start}
    assert {"seed_train-defmo", "seeds_record"} <= now
    assert not now & {"config-seeds", "train_approach-defmo", "seed_train-proposed", "seeds_table"}
