"""The pinned dependencies are listed once for pip (requirements*.txt) and mirrored in environment.yml."""

from __future__ import annotations

import yaml


def _pins(path):
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return {line for line in lines if line}


def test_environment_yml_mirrors_requirements(repo):
    env = yaml.safe_load((repo / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    wanted = _pins(repo / "requirements.txt") | _pins(repo / "requirements-test.txt")
    assert set(pip_section) == wanted


def test_every_requirement_is_pinned(repo):
    for name in ("requirements.txt", "requirements-test.txt"):
        for pin in _pins(repo / name):
            assert "==" in pin, f"{name}: '{pin}' is not pinned with =="


def test_torch_pins_are_the_local_wheels(repo):
    pins = _pins(repo / "requirements.txt")
    assert {"torch==2.14.1", "torchvision==0.29.1"} <= pins


def test_installed_versions_match_pins(repo):
    from importlib.metadata import version

    for pin in _pins(repo / "requirements.txt"):
        name, want = pin.split("==")
        assert version(name) == want, f"{name}: installed {version(name)}, pinned {want}: run ./setup.sh"
