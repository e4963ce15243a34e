"""The project's code-quality bar (issue 5): over src/defmo/, no Radon block above rank B (cyclomatic
complexity > 10) and no file with maintainability index below 20. Offenders are listed so they can be fixed."""

from __future__ import annotations

from defmo.quality.measure import measure_tree, offenders

MAX_CC = 10  # Radon rank B's upper bound
MIN_MI = 20


def test_no_block_above_rank_b_and_no_file_below_mi_20(repo):
    files = measure_tree(repo / "src" / "defmo", [])
    blocks, low = offenders(files, MAX_CC, MIN_MI)
    lines = [f"  {b.file}:{b.lineno} {b.kind} {b.name}: CC {b.complexity} (rank {b.rank})" for b in blocks]
    lines += [f"  {f.path}: MI {f.mi:.2f}" for f in low]
    assert not lines, f"code-quality bar broken (CC <= {MAX_CC}, MI >= {MIN_MI}); split these up:\n" + "\n".join(lines)
