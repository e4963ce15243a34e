"""Static workflow checks: lint, formatting, dry runs at every scale and on SLURM, dvc.yaml in step."""

from __future__ import annotations

import re

import pytest
import yaml

from helpers import REPO, run

PHASES = ["data", "train", "evaluate", "ablate", "quality", "report"]
GLOBAL_PARAMS = {"scale", "seed", "device", "threads"}
SCALES = ["cpu", "paper", "tiny"]


def test_snakemake_lint_is_clean():
    proc = run(["snakemake", "--lint"], REPO, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_snakefmt_is_clean():
    files = ["Snakefile", *map(str, sorted((REPO / "workflow" / "rules").glob("*.smk")))]
    proc = run(["snakefmt", "--check", *files], REPO, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("scale", SCALES)
def test_dry_run(scale):
    proc = run(["snakemake", "-n", "--config", f"scale={scale}"], REPO)
    assert "rule report" in proc.stdout or "Nothing to be done" in proc.stdout


def test_paper_scale_dry_run_on_slurm():
    proc = run(["snakemake", "-n", "--profile", "workflow/profiles/slurm", "--config", "scale=paper"], REPO)
    assert "train_approach" in proc.stdout


def test_invalid_params_stop_snakemake(tmp_path):
    proc = run(["snakemake", "-n", "--config", "scale=huge"], REPO, check=False)
    assert proc.returncode != 0
    assert "key 'scale'" in proc.stdout + proc.stderr


def _phase_rules() -> dict[str, str]:
    return {p: (REPO / "workflow" / "rules" / f"{p}.smk").read_text() for p in PHASES}


def test_every_phase_has_its_target_rule():
    for phase, text in _phase_rules().items():
        assert re.search(rf"^rule {phase}:", text, re.M), f"workflow/rules/{phase}.smk lacks `rule {phase}:`"


def test_dvc_stages_run_the_phase_targets():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert list(stages) == PHASES
    for phase, stage in stages.items():
        assert stage["cmd"].split()[-1] == phase and stage["cmd"].startswith("snakemake"), stage["cmd"]


def _sections(params: list) -> set[str]:
    keys = set()
    for item in params:
        keys |= set(item) if isinstance(item, dict) else {item}
    return {k.split(".")[-1] if k.startswith("scales.") else k.split(".")[0] for k in keys} - GLOBAL_PARAMS


def test_dvc_params_match_the_config_sections_each_phase_reads():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    for phase, text in _phase_rules().items():
        read = set(re.findall(r'CFG\["(\w+)"\]', text)) - GLOBAL_PARAMS
        listed = _sections(stages[phase].get("params", []))
        assert read <= listed, f"stage {phase}: reads {sorted(read - listed)} but dvc.yaml does not list them"
        for section in listed & set(stages[phase]["params"]):  # whole sections, not sub-keys like eval.datasets
            for scale in SCALES:
                assert f"scales.{scale}.{section}" in stages[phase]["params"], (phase, scale, section)


def test_every_rule_has_log_and_benchmark():
    text = "\n".join(_phase_rules().values())
    blocks = re.split(r"^rule ", text, flags=re.M)[1:]
    for block in blocks:
        name = block.split(":")[0]
        if "shell:" in block:
            assert "log:" in block and "benchmark:" in block, f"rule {name} lacks log: or benchmark:"
            assert "run:" not in block, f"rule {name} uses a run: block"
