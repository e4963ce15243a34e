"""Atomic writes: a failure leaves the old file and no temp file; the result has the usual permissions."""

from __future__ import annotations

import os
import stat

import pytest

from defmo.utils.io import atomic_path, write_json, write_text


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_written_file_respects_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_json(tmp_path / "m.json", {"psnr": 1.5})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.json").stat().st_mode) == 0o644
    assert (tmp_path / "m.json").read_text().strip().startswith("{")
