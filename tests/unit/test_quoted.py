"""The quoted numbers live in one module: the tables and readings print them from there, and the findings
stated in words agree with the quoted numbers they summarise."""

from __future__ import annotations

from defmo.config import load
from defmo.evaluate.table import quoted_record
from defmo.ablate import table as table4
from defmo import quoted
from defmo.report import readings
from defmo.quality.measure import QUOTED_SOURCE, table5_rows


def test_findings_in_words_agree_with_the_quoted_table4():
    mib = quoted.TABLE4_MIB
    approaches = list(mib["none"])
    assert all(set(by_approach) == set(approaches) for by_approach in mib.values())
    mp_wins = sum(mib["mp"][a] < mib["gc"][a] for a in approaches)
    assert (mp_wins, len(approaches)) == (4, 4) and quoted.MP_BEATS_GC == "for all four"
    assert quoted.discriminator_overhead() == "315% more (10023 vs 2413 MiB)"


def test_table3_quotes_the_paper_record(repo):
    rec = quoted_record("tbd3d", 50)
    assert {k: rec[k] for k in ("tiou", "psnr", "ssim")} == quoted.TABLE3_ORIGINAL["tbd3d"]
    assert rec["quoted"] is True and rec["method"] == "original" and rec["seconds_per_frame"] is None
    cfg = load(repo / "params.yaml", "cpu")
    assert set(quoted.TABLE3_ORIGINAL) == set(cfg.evaluate.datasets)  # one quoted record per dataset


def test_table4_quoted_block_comes_from_the_quoted_module(repo, monkeypatch):
    cfg = load(repo / "params.yaml", "tiny")
    records = [{"approach": "defmo", "technique": t, "status": "failed"} for t in ("none", "mp")]
    monkeypatch.setitem(quoted.TABLE4_MIB, "mp", {"defmo": 1234})
    _, rows = table4.table_rows(records, cfg)
    assert [r[2] for r in rows if r[0].startswith("peak memory MiB (quoted")] == [2413, 1234]
    assert quoted.TABLE4_SETUP in table4.caption({"batch_size": 1, "steps": 2, "resolution": 32,
                                                  "n_subframes": 4, "memory_label": "m"})


def test_table5_and_its_reading_quote_the_same_rows():
    assert table5_rows({}, {}) == [[name, *values, QUOTED_SOURCE] for name, values in quoted.TABLE5_RADON.items()]
    (_, orig), (_, ref) = quoted.TABLE5_RADON.items()
    text = readings.reading_table5({"project": {"cc_avg": 2.5, "cc_max": 9, "blocks": 10, "files": 2, "mi_min": 40.0,
                                                "mi_avg": 60.0, "difficulty_avg": 3.0, "bugs_avg": 0.1},
                                    "bar": {"blocks_over": 0, "files_under": 0, "max_cc": 10, "min_mi": 20}})
    assert f"vs {orig[0]} (max {orig[1]}) for the original DeFMO and {ref[0]} (max {ref[1]})" in text
    assert f"vs {orig[7]} and {ref[7]}" in text
