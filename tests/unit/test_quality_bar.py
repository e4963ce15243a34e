"""The project's code-quality bar (issue 5), as params.yaml's `quality` section sets it: over src/defmo/, no Radon
block above `quality.max_cc` (rank B: cyclomatic complexity 10) and no file with maintainability index below
`quality.min_mi` (40). Offenders are listed so they can be fixed."""

from __future__ import annotations

import pytest

from defmo.config import load
from defmo.quality.measure import measure_tree, offenders

MAX_CC = 10  # Radon rank B's upper bound: params.yaml may not set a laxer bar
MIN_MI = 40


@pytest.fixture(scope="module")
def bar(repo):
    quality = load(repo / "params.yaml").quality
    return quality.max_cc, quality.min_mi


def test_the_bar_in_params_yaml_is_the_project_s(bar):
    max_cc, min_mi = bar
    assert max_cc <= MAX_CC and min_mi >= MIN_MI, f"params.yaml's quality bar (CC <= {max_cc}, MI >= {min_mi}) is laxer"


def test_no_block_above_the_cc_bar_and_no_file_below_the_mi_bar(repo, bar):
    max_cc, min_mi = bar
    files = measure_tree(repo / "src" / "defmo", [])
    blocks, low = offenders(files, max_cc, min_mi)
    lines = [f"  {b.file}:{b.lineno} {b.kind} {b.name}: CC {b.complexity} (rank {b.rank})" for b in blocks]
    lines += [f"  {f.path}: MI {f.mi:.2f}" for f in low]
    assert not lines, f"code-quality bar broken (CC <= {max_cc}, MI >= {min_mi}); split these up:\n" + "\n".join(lines)
