"""The pinned dependencies are listed once for pip (requirements*.txt: core, pipeline, test) and mirrored in
environment.yml; the core set holds no pipeline tool."""

from __future__ import annotations

import yaml


REQUIREMENTS = ("requirements.txt", "requirements-pipeline.txt", "requirements-test.txt")


def _pins(path):
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return {line for line in lines if line}


def test_environment_yml_mirrors_requirements(repo):
    env = yaml.safe_load((repo / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    wanted = set().union(*(_pins(repo / name) for name in REQUIREMENTS))
    assert set(pip_section) == wanted


def test_every_requirement_is_pinned(repo):
    for name in REQUIREMENTS:
        for pin in _pins(repo / name):
            assert "==" in pin, f"{name}: '{pin}' is not pinned with =="


def test_torch_pins_are_the_local_wheels(repo):
    pins = _pins(repo / "requirements.txt")
    assert {"torch==2.14.1", "torchvision==0.29.1"} <= pins


def test_installed_versions_match_pins(repo):
    from importlib.metadata import version

    for pin in _pins(repo / "requirements.txt") | _pins(repo / "requirements-pipeline.txt"):
        name, want = pin.split("==")
        assert version(name) == want, f"{name}: installed {version(name)}, pinned {want}: run ./setup.sh"


def test_the_core_install_has_no_pipeline_tool(repo):
    """`pip install .` installs the model and `deblur`; Snakemake, DVC, the renderer and Radon are the extra."""
    core = {pin.split("==")[0].lower() for pin in _pins(repo / "requirements.txt")}
    assert core.isdisjoint({"snakemake", "dvc", "snakemake-executor-plugin-slurm", "pyrender", "pybullet", "radon",
                            "nvidia-ml-py"}), core
    assert {"torch", "torchvision", "opencv-python-headless"} <= core
