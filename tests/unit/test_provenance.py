"""Provenance recorded when a result is made (defmo.utils.provenance): where records live, what they hold,
that a changed file is told apart from its record, and that the CLI records each verb's outputs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from defmo.cli import VERBS, build_parser, main
from defmo.config import load
from defmo.phases import PHASES
from defmo.utils import provenance
from defmo.utils.provenance import current, inherited, read, record, sha256, sidecar

FAKE = SimpleNamespace(scale="cpu")  # record() reads only the scale of the config


@pytest.fixture()
def tiny(repo):
    return load(repo / "params.yaml", "tiny")


def test_sidecar_in_a_phase_folder_never_inside_dvc_metrics_or_plots():
    assert sidecar("results/train/metrics/defmo.json") == Path("results/train/provenance/metrics/defmo.json.json")
    assert sidecar("results/evaluate/tables/table3.md") == Path("results/evaluate/provenance/tables/table3.md.json")
    assert sidecar("results/evaluate/metrics/tbd/defmo.json") == Path(
        "results/evaluate/provenance/metrics/tbd/defmo.json.json")
    assert sidecar("results/evaluate/deblur") == Path("results/evaluate/provenance/deblur.json")
    assert sidecar("results/report/report.md") == Path("results/report/provenance/report.md.json")


def test_sidecar_of_data_and_of_any_other_folder(tmp_path, monkeypatch):
    assert sidecar("data/synthetic/train") == Path("results/data/provenance/synthetic/train.json")
    assert sidecar("data/benchmark/tbd") == Path("results/data/provenance/benchmark/tbd.json")
    assert sidecar("somewhere/else/t.md") == Path("somewhere/else/t.md.provenance.json")
    assert sidecar("results/x.md") == Path("results/x.md.provenance.json")  # no phase folder
    outside = tmp_path / "x" / "y.json"
    assert sidecar(outside) == tmp_path / "x" / "y.json.provenance.json"
    monkeypatch.chdir(tmp_path)  # an absolute path inside the working directory follows the relative rule
    assert sidecar(tmp_path / "results" / "eval" / "a.json") == Path("results/eval/provenance/a.json.json")
    assert sidecar(tmp_path / "data" / "synthetic" / "val") == Path("results/data/provenance/synthetic/val.json")


def test_record_then_read_round_trip_and_a_changed_file_is_stale(tmp_path):
    out = tmp_path / "table.md"
    out.write_text("| a |\n")
    dep = tmp_path / "dep.csv"
    dep.write_text("x\n")
    path = record(out, FAKE, device="Fake GPU", data="fake inputs", inputs=[dep, tmp_path / "absent"])
    assert path == tmp_path / "table.md.provenance.json"
    rec = read(out)
    assert rec["file"] == out.as_posix() and rec["sha256"] == sha256(out) and rec["scale"] == "cpu"
    assert rec["device"] == "Fake GPU" and rec["data"] == "fake inputs"
    assert rec["commit"] == "unknown (not a git checkout)" or rec["commit"][:7].isalnum()
    assert rec["date"].endswith("+00:00") and rec["inputs"] == {dep.as_posix(): sha256(dep)[:12]}
    assert current(out)
    out.write_text("| b |\n")
    assert read(out) == rec and not current(out)
    assert read(tmp_path / "never.md") is None and not current(tmp_path / "never.md")
    sidecar(out).write_text("not json")
    assert read(out) is None


def test_folder_digest_covers_names_and_contents_but_not_hidden_files(tmp_path):
    folder = tmp_path / "shards"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"1")
    (folder / "sub" / "b.bin").write_bytes(b"2")
    first = sha256(folder)
    (folder / ".snakemake_timestamp").write_text("x")
    (folder / ".shard-1.tmp").write_text("x")
    assert sha256(folder) == first
    (folder / "sub" / "b.bin").write_bytes(b"3")
    assert sha256(folder) != first
    (folder / "sub" / "b.bin").write_bytes(b"2")
    (folder / "sub" / "b.bin").rename(folder / "sub" / "c.bin")
    assert sha256(folder) != first


def test_inherited_values_of_input_records(tmp_path):
    a, b, c = (tmp_path / n for n in ("a.csv", "b.csv", "c.csv"))
    for p in (a, b, c):
        p.write_text(p.name)
    record(a, FAKE, device="gpu 1", data="shards X")
    record(b, FAKE, device="gpu 2", data="shards X")
    assert inherited([a, b, c], "device") == "gpu 1; gpu 2" and inherited([a, b], "data") == "shards X"
    assert inherited([c], "data") is None


def test_device_label_names_the_processor(repo):
    from defmo.utils.measure import cpu_name

    label = provenance.device_label(load(repo / "params.yaml", "tiny", ["device=cpu"]))
    assert label.startswith("cpu: ") and cpu_name() in label and "torch threads" in label


def test_tables_through_the_cli_writes_its_records(repo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative outputs: records under results/<phase>/provenance/
    argv = ["--params", str(repo / "params.yaml"), "--scale", "tiny", "table2", "--table2", "results/report/tables/table2"]
    assert main(argv) == 0
    for ext in ("csv", "md", "tex"):
        rec = json.loads((tmp_path / f"results/report/provenance/tables/table2.{ext}.json").read_text())
        assert rec["file"] == f"results/report/tables/table2.{ext}" and rec["scale"] == "tiny"
        assert rec["device"] == "n/a (parameters only)" and rec["data"].startswith("parameters only")
        assert rec["commit"] == "unknown (not a git checkout)"  # tmp_path is no git checkout
        assert current(f"results/report/tables/table2.{ext}")
    assert not (tmp_path / "results" / "metrics").exists() and not (tmp_path / "results" / "plots").exists()


def test_a_failed_verb_records_nothing(repo, tmp_path):
    code = main(["--params", str(repo / "params.yaml"), "--scale", "tiny", "figures", "memory",
                 "--output", str(tmp_path / "m.png")])
    assert code == 2 and not list(tmp_path.iterdir())


def _touch(path: Path, folder: bool = False) -> str:
    if folder:
        path.mkdir(parents=True, exist_ok=True)
        (path / "manifest.json").write_text("{}")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")
    return str(path)


def _outputs(repo, argv: list[str], cfg):
    full = ["--params", str(repo / "params.yaml"), "--scale", "tiny", *argv]
    args = build_parser(full).parse_args(full)
    import importlib

    return [provenance.Output(*o) for o in importlib.import_module(args._module).outputs(args, cfg)]


def test_every_verb_that_writes_a_result_names_its_outputs(repo, tmp_path, tiny):
    t = tmp_path
    data, val, ckpt = _touch(t / "train", True), _touch(t / "val", True), _touch(t / "final.pt")
    cells = [_touch(t / "cells" / "defmo__none.json")]
    (t / "cells" / "defmo__none.json").write_text(json.dumps({"memory_label": "CPU memory (peak RSS), Fake"}))
    cases = {
        "config": (["--out", str(t / "config")], [f"{phase}.yaml" for phase in PHASES]),
        "data": (["--split", "train", "--out", str(t / "train")], ["train"]),
        "throughput-render": (["--md", str(t / "r.md"), "--json", str(t / "r.json")], ["r.md", "r.json"]),
        "train": (["--approach", "defmo", "--data", data, "--val", val, "--out", ckpt, "--curve", str(t / "c.csv"),
                   "--metrics", str(t / "v.json"), "--resume-dir", str(t / "resume")], ["final.pt", "c.csv", "v.json"]),
        "throughput-train": (["--md", str(t / "b.md"), "--json", str(t / "b.json")], ["b.md", "b.json"]),
        "validate": (["--checkpoint", ckpt, "--val", val, "--output", str(t / "val.json")], ["val.json"]),
        "evaluate": (["--dataset", "tbd", "--data", str(t / "tbd"), "--method", "defmo", "--checkpoint", ckpt,
                      "--output", str(t / "e.json"), "--csv", str(t / "e.csv"), "--sample", str(t / "e.npz")],
                     ["e.json", "e.csv", "e.npz"]),
        "deblur": (["--checkpoint", ckpt, "--video", str(t / "v.avi"), "--output-dir", str(t / "deblur"),
                    "--figure", str(t / "d.png"), "--metrics", str(t / "d.json")], ["d.png", "d.json", "deblur"]),
        "footage": (["--inputs", str(t / "d.json"), "--table", str(t / "footage")],
                    ["footage.csv", "footage.md", "footage.tex"]),
        "throughput-deblur": (["--checkpoint", ckpt, "--json", str(t / "db.json"), "--md", str(t / "db.md")],
                              ["db.json", "db.md"]),
        "ablate": (["--cell", "defmo:none", "--out", cells[0]], ["defmo__none.json"]),
        "quality": (["--table", str(t / "table5"), "--functions", str(t / "f.md"), "--files", str(t / "fi.md"),
                     "--metrics", str(t / "q.json")], ["table5.csv", "table5.md", "table5.tex", "f.md", "fi.md", "q.json"]),
        "table2": (["--table2", str(t / "table2")], ["table2.csv", "table2.md", "table2.tex"]),
        "figures": (["curves", "--inputs", str(t / "c.csv"), "--output", str(t / "curves.png")], ["curves.png"]),
        "report": (["--table2", "a", "--table3", "a", "--table4", "a", "--table5", "a", "--quality-json", "a",
                    "--memory-json", "a", "--output", str(t / "report.md")], ["report.md"]),
        "seeds": (["--approach", "defmo", "--seed", "1", "--checkpoint", ckpt, "--train-metrics", str(t / "v.json"),
                   "--val", val, "--dataset", f"tbd={t / 'tbd'}", "--output", str(t / "s.json"), "--frames",
                   str(t / "s.csv")], ["s.json", "s.csv"]),
    }
    assert set(cases) == set(VERBS)  # every verb writes a result the report shows
    for verb, (argv, names) in cases.items():
        outs = _outputs(repo, [verb, *argv], tiny)
        assert [o.path.name for o in outs][: len(names)] == names, verb
        assert all(o.data for o in outs), verb
    assert len(_outputs(repo, ["evaluate", *cases["evaluate"][0]], tiny)) == 3 + 2 * len(tiny.evaluate.background_variants)
    study = _outputs(repo, ["seeds", "--summarize", "--runs", str(t / "s.json"), "--frames", str(t / "s.csv"), "--table",
                            str(t / "seeds"), "--summary", str(t / "sum.json"), "--figure", str(t / "s.png")], tiny)
    assert [o.path.name for o in study] == ["seeds.csv", "seeds.md", "seeds.tex", "seeds_verdicts.md", "sum.json",
                                            "s.png"]
    bench = _outputs(repo, ["data", "--benchmark", "tbd", "--out", str(t / "tbd")], tiny)
    assert [o.path.name for o in bench] == ["tbd"] and "benchmark tbd" in bench[0].data
    train = _outputs(repo, ["train", *cases["train"][0]], tiny)[0]
    assert f"training shards {data} (sha256 {sha256(data)[:12]})" in train.data and train.device is None
    assert _outputs(repo, ["ablate", *cases["ablate"][0]], tiny)[0].device == "CPU memory (peak RSS), Fake"
    quoted = _outputs(repo, ["evaluate", "--dataset", "tbd", "--method", "original", "--output", str(t / "o.json")], tiny)
    assert [(o.path.name, o.device) for o in quoted] == [("o.json", "n/a (quoted)")]
    table = _outputs(repo, ["ablate", "--table", "--inputs", *cells, "--table-out", str(t / "table4.csv"),
                            "--plot-csv", str(t / "memory.csv"), "--metrics", str(t / "memory.json")], tiny)
    assert [o.path.name for o in table] == ["table4.csv", "table4.md", "table4.tex", "memory.csv", "memory.json"]
    record(cells[0], FAKE, device="Fake GPU (nvml)", data="random")
    aggregate = _outputs(repo, ["evaluate", "--aggregate", "--inputs", cells[0], "--table", str(t / "table3")], tiny)
    assert [(o.path.name, o.device) for o in aggregate][1] == ("table3.md", "Fake GPU (nvml)")


def test_gitignore_keeps_records_committable(repo):
    paths = ["results/report/provenance/tables/table2.md.json", "results/train/provenance/metrics/defmo.json.json",
             "results/data/provenance/synthetic/train.json", "results/report/provenance/report.md.json"]
    proc = subprocess.run(["git", "check-ignore", *paths], cwd=repo, capture_output=True, text=True)
    assert proc.stdout.strip() == "", f"ignored by .gitignore: {proc.stdout}"
