"""The whole pipeline at the tiny scale in a temporary copy: through Snakemake, then through DVC.

Checks the users' three commands for real: `snakemake --cores all` produces every table, `dvc commit` records
that run so DVC has nothing to do either, `dvc repro` after a parameter change reruns only what depends on it,
`dvc metrics diff` shows the changed numbers, the branch-switch flow (`dvc checkout` + `snakemake --touch`)
leaves nothing to do, and `dvc push`/`dvc pull` restores data and checkpoints bit for bit in a fresh clone.
"""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

from helpers import copy_repo, run, set_param

pytestmark = pytest.mark.slow

TABLE_PHASE = {2: "report", 3: "evaluate", 4: "ablate", 5: "quality"}
TABLES = [f"results/{TABLE_PHASE[i]}/tables/table{i}.{ext}" for i in (2, 3, 4, 5) for ext in ("csv", "md", "tex")]


def _git(repo, *args):
    return run(["git", *args], repo)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """A temp git repository with the project at scale tiny, run once through Snakemake."""
    root = tmp_path_factory.mktemp("e2e")
    repo = copy_repo(root / "repo")
    set_param(repo, "scale", "tiny")
    _git(repo, "init", "-q")
    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A")
    _git(repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "tiny")
    run(["dvc", "remote", "add", "-f", "--local", "-d", "tmp", str(root / "remote")], repo)
    # --forceall: the copy holds the committed cpu-scale results, which Snakemake would take as up to date; the
    # seed study too (outside `all`), so that every DVC stage of the copy is at the tiny scale
    run(["snakemake", "--cores", "2", "--forceall", "all", "seeds"], repo, timeout=1200)
    # the report reads the seed study where it exists, not as an input (workflow/rules/report.smk): rerun it after
    # the study, as a user does, so that it does not depend on which of the two Snakemake happened to finish first
    run(["snakemake", "--cores", "2", "-R", "report_md"], repo, timeout=600)
    return repo


def test_snakemake_builds_every_table_and_the_report(pipeline):
    for name in TABLES + ["results/report/report.md"]:
        assert (pipeline / name).stat().st_size > 0, name
    report = (pipeline / "results/report/report.md").read_text()
    for i in (2, 3, 4, 5):
        assert f"Table {i}" in report


def test_snakemake_has_nothing_left_to_do(pipeline):
    assert "Nothing to be done" in run(["snakemake", "-n"], pipeline).stdout


def test_dvc_commit_records_the_snakemake_run(pipeline):
    """After `snakemake --cores all`, DVC has not seen the outputs; `dvc commit` records them as they are, and then
    neither tool has anything to do (README, "Snakemake, then DVC")."""
    before = run(["dvc", "status"], pipeline).stdout
    assert "changed" in before or "modified" in before or "new" in before, before
    outputs = _hashes(pipeline, "results/**/*")
    run(["dvc", "commit", "--force"], pipeline, timeout=600)
    assert "changed" not in run(["dvc", "status"], pipeline).stdout
    assert "Nothing to be done" in run(["snakemake", "-n"], pipeline).stdout
    assert _hashes(pipeline, "results/**/*") == outputs  # recorded, not recomputed
    out = run(["dvc", "repro"], pipeline, timeout=1200).stdout
    assert "Running stage" not in out, out


def _hashes(repo, pattern):
    return {
        p.relative_to(repo).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(repo.glob(pattern))
        if p.is_file()
    }


def test_dvc_repro_then_param_change_reruns_only_downstream(pipeline):
    # the previous test left both tools with nothing to do (its `dvc repro` ran nothing)
    assert "Nothing to be done" in run(["snakemake", "-n"], pipeline).stdout
    status = run(["dvc", "status"], pipeline).stdout
    assert "changed" not in status, status
    _git(pipeline, "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A")
    _git(pipeline, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "repro")

    # one loss weight of DeFMO (the copy runs the tiny scale, whose block sets DeFMO's weights)
    set_param(pipeline, "scales.tiny.train.approach.defmo.losses.I", "2.0")
    out = run(["dvc", "repro"], pipeline, timeout=1200).stdout
    for stage in ("data", "quality"):
        assert f"Stage '{stage}' didn't change, skipping" in out, out
    for stage in ("config", "train", "evaluate", "report"):
        assert f"Running stage '{stage}'" in out, out
    diff = json.loads(run(["dvc", "metrics", "diff", "HEAD", "--json"], pipeline).stdout)
    assert set(diff) == {"results/report/metrics.json"}, diff  # the headline only, not the detailed files
    rows = diff["results/report/metrics.json"]
    assert "validation.defmo.psnr" in rows and "tbd.defmo+fit.psnr" in rows, rows
    assert not any(".proposed" in key for key in rows), rows  # the other model was not retrained
    text = run(["dvc", "metrics", "diff", "HEAD"], pipeline).stdout
    assert len(text.splitlines()) <= 40 and max(map(len, text.splitlines())) <= 120, text  # a person reads it
    # the change, committed as a branch would hold it (the later tests start from it)
    _git(pipeline, "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A")
    _git(pipeline, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "defmo I 2")


def test_training_param_change_marks_training_and_what_follows(pipeline):
    """A training value invalidates train, ablate and report (and evaluate through the checkpoints), never data or
    quality: `dvc status` says `config` until `dvc repro config` has written what each phase reads."""
    params = (pipeline / "params.yaml").read_text()
    # the seed study, which `dvc repro` leaves out, is already out of date after the previous test's loss change
    before = set(json.loads(run(["dvc", "status", "--json"], pipeline).stdout))
    assert before <= {"seeds/dvc.yaml:seeds"}, before
    try:
        set_param(pipeline, "train.lr_g", "0.0005")
        assert set(json.loads(run(["dvc", "status", "--json"], pipeline).stdout)) - before == {"config"}
        run(["dvc", "repro", "config"], pipeline, timeout=600)
        changed = set(json.loads(run(["dvc", "status", "--json"], pipeline).stdout))
        assert {"train", "ablate", "report", "seeds/dvc.yaml:seeds"} <= changed, changed
        assert not changed & {"data", "quality"}, changed
    finally:
        # back to the committed state the later tests start from (rerunning `config` would stamp a new date and
        # commit into its provenance files and leave the tree dirty)
        (pipeline / "params.yaml").write_text(params)
        _git(pipeline, "checkout", "--", "params.yaml", "dvc.lock", "results/config")
    assert not _git(pipeline, "status", "--porcelain", "--untracked-files=no").stdout.strip()
    assert set(json.loads(run(["dvc", "status", "--json"], pipeline).stdout)) == before


def test_dvc_push_pull_restores_bit_for_bit(pipeline, tmp_path):
    run(["dvc", "push"], pipeline, timeout=600)
    before = _hashes(pipeline, "data/**/*") | _hashes(pipeline, "results/train/checkpoints/**/*")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(pipeline), str(clone)], check=True)
    (clone / ".dvc" / "config.local").write_text((pipeline / ".dvc" / "config.local").read_text())
    run(["dvc", "pull"], clone, timeout=600)
    after = _hashes(clone, "data/**/*") | _hashes(clone, "results/train/checkpoints/**/*")
    assert before and before == after


def test_branch_switch_flow(pipeline):
    """git checkout + dvc checkout + snakemake --touch leaves both tools with nothing to do: back from the loss
    change's commit to the one before it."""
    _git(pipeline, "checkout", "-q", "HEAD~1")
    run(["dvc", "checkout"], pipeline)
    run(["snakemake", "--touch", "--cores", "1"], pipeline)
    assert "Nothing to be done" in run(["snakemake", "-n"], pipeline).stdout
    assert "changed" not in run(["dvc", "status"], pipeline).stdout


def test_seed_study_metrics_diff_between_branches(pipeline):
    """One loss weight of DeFMO changed on a branch: `dvc repro seeds/dvc.yaml` retrains DeFMO's seeds only: its
    per-seed scores and the summary change, none of the other approach's."""
    record = json.loads((pipeline / "results/seeds/metrics/proposed/seed1.json").read_text())
    assert record["steps"] == 3 and record["seed"] == 1  # the tiny scale's seeds.steps, the second seed
    _git(pipeline, "checkout", "-q", "-B", "seeds-base")  # the commit the previous test left checked out
    run(["snakemake", "--touch", "--cores", "1", "seeds"], pipeline)  # the branch-switch flow, for the study
    _git(pipeline, "checkout", "-q", "-b", "seeds-change")
    set_param(pipeline, "scales.tiny.train.approach.defmo.losses.I", "3.0")  # the copy runs the tiny scale
    out = run(["dvc", "repro", "seeds/dvc.yaml"], pipeline, timeout=1200).stdout
    assert "Running stage 'seeds/dvc.yaml:seeds'" in out, out
    assert "Running stage 'train'" not in out and "Running stage 'evaluate'" not in out, out

    def changed(path):
        return json.loads(_git(pipeline, "show", f"seeds-base:{path}").stdout) != json.loads((pipeline / path).read_text())

    assert all(changed(f"results/seeds/metrics/defmo/seed{k}.json") for k in (0, 1))
    assert changed("results/seeds/metrics/summary.json")
    assert not any(changed(f"results/seeds/metrics/proposed/seed{k}.json") for k in (0, 1))
