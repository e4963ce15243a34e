"""A training process killed with SIGKILL resumes from its last checkpoint and ends with weights equal to
an uninterrupted run (CPU, fixed seed)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from defmo.train import checkpoint

WORKER = Path(__file__).with_name("train_worker.py")
STEPS = 6


def _cmd(approach: str, resume_dir: Path, result: Path) -> list[str]:
    return [sys.executable, str(WORKER), "--approach", approach, "--steps", str(STEPS),
            "--resume-dir", str(resume_dir), "--result", str(result)]


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def _saved_step(path: Path) -> int:
    try:
        return int(checkpoint.load(path)["trainer"]["step"])
    except Exception:  # noqa: BLE001 - not there yet
        return -1


def _kill_after_checkpoint(cmd: list[str], last: Path, min_step: int, timeout: float = 240.0) -> int:
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while _saved_step(last) < min_step:
        if proc.poll() is not None:
            pytest.fail(f"worker ended before being killed: {proc.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("worker wrote no checkpoint in time")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return _saved_step(last)


def _assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for net in a:
        for key, value in a[net].items():
            other = b[net][key]
            assert torch.equal(value, other), f"{net}.{key} differs after resume"


@pytest.mark.parametrize("approach", ["defmo", "proposed"])
def test_sigkilled_run_resumes_to_identical_weights(tmp_path, approach):
    straight = tmp_path / "straight.pt"
    subprocess.run(_cmd(approach, tmp_path / "r1", straight), env=_env(), check=True, capture_output=True)
    resumed = tmp_path / "resumed.pt"
    cmd = _cmd(approach, tmp_path / "r2", resumed)
    killed_at = _kill_after_checkpoint(cmd, tmp_path / "r2" / "last.pt", min_step=2)
    assert 2 <= killed_at < STEPS and not resumed.exists(), "the kill must land mid-run"
    subprocess.run(cmd, env=_env(), check=True, capture_output=True)
    a, b = torch.load(straight, weights_only=True), torch.load(resumed, weights_only=True)
    assert a["step"] == b["step"] == STEPS
    _assert_same_weights(a["nets"], b["nets"])
    assert [r["total"] for r in a["rows"]] == [r["total"] for r in b["rows"]]
    assert [r["step"] for r in b["rows"]] == list(range(1, STEPS + 1))
