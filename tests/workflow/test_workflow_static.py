"""Static workflow checks: lint, formatting, dry runs at every scale and on SLURM, dvc.yaml in step with the
Snakefile (one stage per phase, its params from its resolved file, folders as outputs, code deps covering its
imports), every job writing under its phase's folder."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from defmo.cli import VERBS
from defmo.config import load
from defmo.figures import KINDS
from defmo.phases import PHASES, RULE_READS
from helpers import REPO, run

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


def _phase_rules(with_config: bool = False) -> dict[str, str]:
    phases = ["config", *PHASES] if with_config else PHASES
    return {p: (REPO / "workflow" / "rules" / f"{p}.smk").read_text() for p in phases}


def test_every_phase_has_its_target_rule():
    for phase, text in _phase_rules().items():
        assert re.search(rf"^rule {phase}:", text, re.M), f"workflow/rules/{phase}.smk lacks `rule {phase}:`"


def _stages() -> dict:
    """The main pipeline's stages (dvc.yaml), then the seed study's (seeds/dvc.yaml, run from the root)."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    seeds = yaml.safe_load((REPO / "seeds" / "dvc.yaml").read_text())["stages"]
    assert all(stage.pop("wdir") == ".." for stage in seeds.values()), "seeds/dvc.yaml: stages run from the root"
    return {**stages, **seeds}


def test_a_plain_dvc_repro_leaves_the_seed_study_out():
    """`dvc repro` reproduces dvc.yaml and what it depends on: no main stage may depend on the seed study."""
    main = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    assert "seeds" not in main
    for name, stage in main.items():
        assert not any(str(d).startswith("results/seeds") for d in stage.get("deps", [])), name


def test_dvc_stages_run_the_phase_targets():
    stages = _stages()
    assert list(stages) == ["config", *PHASES]
    for phase, stage in stages.items():
        assert stage["cmd"].split()[-1] == phase and stage["cmd"].startswith("snakemake"), stage["cmd"]


def test_each_stage_takes_its_params_from_its_resolved_file():
    """No per-scale placeholders: a stage's params are results/config/<phase>.yaml, which `config` writes."""
    assert "params" not in _stages()["config"]
    for phase in PHASES:
        assert _stages()[phase]["params"] == [{f"results/config/{phase}.yaml": None}], phase
    assert "scales.cpu" not in (REPO / "dvc.yaml").read_text()


def _rule_blocks(text: str) -> dict[str, str]:
    return {block.split(":")[0]: block for block in re.split(r"^rule ", text, flags=re.M)[1:]}


def test_every_job_rule_takes_what_it_reads_as_an_input():
    """defmo.phases.RULE_READS names exactly the rules that run a job (the config_phase rule aside), each under its
    own phase; each takes its reads file as an input (the rerun trigger, also without Snakemake's metadata) and the
    same values as its `reads` param, and hands its job no other configuration value as a param."""
    seen = set()
    for phase, text in _phase_rules().items():
        for name, block in _rule_blocks(text).items():
            if "shell:" not in block:
                continue
            seen.add(name)
            assert RULE_READS[name][0] == phase, name
            reader = f"{name}-{{approach}}" if any("{approach}" in k for k in RULE_READS[name][1]) else name
            assert f'values=values("{reader}")' in block and f'reads=reads("{reader}")' in block, name
            params = block.split("params:")[1].split("shell:")[0]
            assert "CFG" not in params and "EVAL" not in params and "ABLATE" not in params, name
    assert seen == set(RULE_READS)


def test_every_phase_target_takes_its_record():
    """A run that changes a phase's values rewrites its record (results/config/<phase>.yaml); no job rule takes a
    record itself (a checkout's file order would rerun it: only the reads files' times count)."""
    for phase, text in _phase_rules().items():
        blocks = _rule_blocks(text)
        assert f'"results/config/{phase}.yaml"' in blocks[phase], phase
        for name, block in blocks.items():
            assert "shell:" not in block or "results/config/" not in block.split("output:")[0], name


def _out_paths(stage: dict) -> list[str]:
    return [next(iter(o)) if isinstance(o, dict) else o
            for key in ("outs", "metrics", "plots") for o in stage.get(key, [])]


def test_dvc_outputs_are_each_phase_s_folders():
    """Folders, not per-approach or per-dataset files, and each under the phase's own folder (or data/)."""
    cfg = load(REPO / "params.yaml")
    names = {*cfg.train.approach, *cfg.evaluate.datasets}
    for phase, stage in _stages().items():
        for path in _out_paths(stage):
            assert path.startswith(f"results/{phase}/") or path == f"results/{phase}" or (
                phase == "data" and path.startswith("data/")), (phase, path)
            assert not set(re.split(r"[/._]", path)) & names, f"{phase}: {path} names an approach or dataset"
            # three files by nature: the report, the results summary README.md includes, the headline metrics
            assert path in ("results/report/report.md", "results/report/summary.md",
                            "results/report/metrics.json") or not Path(path).suffix, (
                f"{phase}: {path} is a file")


def test_every_job_writes_under_its_phase_folder():
    """Every output, log and timing of every job (at the tiny scale, all forced) lies in results/<phase>/."""
    owner = {name: phase for phase, text in _phase_rules(with_config=True).items()
             for name in re.findall(r"^rule (\w+):", text, re.M)}
    out = run(["snakemake", "probe", "seeds", "all", "-n", "--forceall", "--config", "scale=tiny"], REPO).stdout
    for block in re.split(r"^(?:local)?rule ", out, flags=re.M)[1:]:
        rule = block.split(":")[0]
        for key in ("output", "log", "benchmark"):
            for line in re.findall(rf"^    {key}: (.*)$", block, re.M):
                for path in (p.strip() for p in line.split(",")):
                    phase = owner[rule]
                    folders = (f"results/{phase}/", "data/") if phase == "data" else (f"results/{phase}/",)
                    if rule in ("train_approach", "figure_curves"):
                        folders = ("results/train/", "results/probe/")
                    assert path.startswith(folders), f"rule {rule} ({phase}) writes {path}"


def _imports(module: str) -> set[str]:
    """Modules of defmo that ``module`` imports (anywhere in the file), and parent packages."""
    found = set()
    text = _module_file(module).read_text()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and module != "defmo.cli"
              and re.fullmatch(r"defmo(\.\w+)+", node.value)):
            found.add(node.value)  # a subprocess's `python -m defmo.x.y`
    return {m for m in found if m.split(".")[0] == "defmo" and _module_file(m) is not None}


def _module_file(module: str) -> Path | None:
    base = REPO / "src" / Path(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _closure(modules: list[str]) -> set[Path]:
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        todo += [".".join(parts[:i]) for i in range(2, len(parts))] + sorted(_imports(module))
    return {_module_file(m) for m in seen}


@pytest.mark.parametrize("phase", ["config", *PHASES])
def test_code_deps_cover_what_each_stage_imports(phase):
    """Every module a stage's verbs (and figure kinds) import, transitively, lies under one of its deps."""
    text = _phase_rules(with_config=True)[phase]
    modules = ["defmo.cli"] + [VERBS[v][0] for v in re.findall(r"\{params\.cli\} ([\w-]+)", text)]
    modules += [KINDS[k].split(":")[0] for k in re.findall(r"\{params\.cli\} figures (\w+)", text)]
    deps = [REPO / d for d in _stages()[phase]["deps"]]
    for path in sorted(_closure(modules)):
        if path.name == "__init__.py" and not path.read_text().strip().count("\n"):
            continue  # a docstring-only package marker
        assert any(path == d or d in path.parents for d in deps), (
            f"stage {phase}: imports {path.relative_to(REPO)} but dvc.yaml does not list it (or a folder above)")
    if any(p.name in ("config.py", "settings.py") for p in _closure(modules)):
        assert any(d.name == "schemas" or d.name == "defmo" for d in deps), f"stage {phase}: lacks the schemas"


def test_every_rule_has_log_and_benchmark():
    text = "\n".join(_phase_rules(with_config=True).values())
    blocks = re.split(r"^rule ", text, flags=re.M)[1:]
    for block in blocks:
        name = block.split(":")[0]
        if "shell:" in block:
            assert "log:" in block and "benchmark:" in block, f"rule {name} lacks log: or benchmark:"
            assert "run:" not in block, f"rule {name} uses a run: block"
