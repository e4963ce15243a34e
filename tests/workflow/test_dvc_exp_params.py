"""`dvc exp run -S key=value` edits params.yaml's top level: that must change the default run (the cpu scale), not
be hidden by a scale block."""

from __future__ import annotations

import yaml

from helpers import copy_repo, run


def test_dvc_exp_run_set_changes_the_default_run(tmp_path):
    repo = copy_repo(tmp_path / "repo")
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "base"]):
        run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], repo)
    before = yaml.safe_load((repo / "results/config/data.yaml").read_text())
    assert before["scale"] == "cpu" and before["data"]["resolution"] == 64
    run(["dvc", "exp", "run", "-S", "data.resolution=96", "config"], repo, timeout=600)
    after = yaml.safe_load((repo / "results/config/data.yaml").read_text())
    assert after["scale"] == "cpu" and after["data"]["resolution"] == 96
