"""docs/configuration.md is generated from params.yaml and its schema, and current."""

from __future__ import annotations

import subprocess
import sys


def test_the_parameter_reference_is_current(repo):
    proc = subprocess.run([sys.executable, "workflow/scripts/config_reference.py", "--check"], cwd=repo,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = (repo / "docs" / "configuration.md").read_text()
    # every key, with its default (cpu) value and where another scale differs
    assert "| `data.resolution` | integer | `64` | `128` | `32` |" in text
    assert "| `evaluate.detect.bridge` | integer | `2` |" in text


def test_a_params_edit_makes_it_stale(repo, tmp_path):
    sys.path.insert(0, str(repo / "workflow" / "scripts"))
    try:
        import config_reference
    finally:
        sys.path.pop(0)
    params = tmp_path / "params.yaml"
    params.write_text((repo / "params.yaml").read_text().replace("  resolution: 64 #", "  resolution: 96 #", 1))
    assert "| `data.resolution` | integer | `96` |" in config_reference.reference(params)
