"""params.yaml validation: every scale resolves, bad input is named by key before any work."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from defmo.cli import build_parser, load_config
from defmo.config import (
    ConfigError,
    apply_overrides,
    deep_merge,
    load,
    load_resolved,
    resolve,
    resolve_with,
    write_resolved,
)
from defmo.overrides import parse_cli_config, user_overrides


@pytest.fixture(scope="module")
def raw(repo):
    return yaml.safe_load((repo / "params.yaml").read_text())


@pytest.mark.parametrize("scale", ["cpu", "paper", "tiny"])
def test_every_scale_resolves(repo, scale):
    cfg = load(repo / "params.yaml", scale=scale)
    assert cfg.scale == scale
    assert cfg.data.resolution % 16 == 0


def test_paper_scale_is_table2(repo):
    cfg = load(repo / "params.yaml", scale="paper")
    train, approach = cfg.train, cfg.train.approach
    assert (cfg.data.resolution, cfg.data.n_subframes) == (128, 24)
    assert (approach["defmo"].epochs, approach["defmo"].batch_size) == (7, 24)
    assert (approach["proposed"].epochs, approach["proposed"].batch_size) == (4, 9)
    assert (train.lr_g, train.lr_ds, train.lr_dt) == (1e-3, 1e-5, 5e-5)
    assert (train.lr_step, train.lr_gamma, train.ds_steps, train.dt_steps) == (10, 0.5, 1, 2)
    assert approach["proposed"].losses == {"F": 1.0, "I": 1.0, "N": 0.05, "G": 1.0, "L": 1.0}
    assert approach["defmo"].losses == {"F": 1.0, "I": 1.0, "T": 1.0, "S": 1.0, "L": 1.0}


def test_deep_merge_keeps_siblings():
    base = {"a": {"x": 1, "y": {"z": 2}}, "b": 3}
    assert deep_merge(base, {"a": {"y": {"z": 5}}}) == {"a": {"x": 1, "y": {"z": 5}}, "b": 3}
    assert base["a"]["y"]["z"] == 2  # not mutated


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("data.resolution=-3", "data.resolution"),
        ("data.resolution=70", "data.resolution"),  # not a multiple of 16
        ("data.n_subframes='eight'", "data.n_subframes"),
        ("train.lr_g=0", "train.lr_g"),
        ("device=gpu", "device"),
        ("model.encoder=vgg", "model.encoder"),
        ("model.ds_noise=-0.1", "model.ds_noise"),
        ("train.val_every=0", "train.val_every"),
        ("train.approach.probe.lr_step=0", "train.approach.probe.lr_step"),
        ("seeds.count=0", "seeds.count"),
        ("seeds.steps=0", "seeds.steps"),
        ("seeds.confidence=1.0", "seeds.confidence"),
        ("seeds.approaches=[]", "seeds.approaches"),
        ("model.fit_steps=-1", "model.fit_steps"),
        ("model.fit_steps=2.5", "model.fit_steps"),
    ],
)
def test_bad_values_name_the_key(raw, override, key):
    with pytest.raises(ConfigError, match=f"key '{key}'"):
        resolve(apply_overrides(raw, [override]))


def test_an_approach_without_a_supervised_loss_is_named(raw):
    bad = apply_overrides(raw, ["train.approach.defmo.losses={I: 1.0}"])
    with pytest.raises(ConfigError, match="key 'train.approach.defmo.losses' lacks a supervised loss"):
        resolve(bad)


def test_unknown_key_is_named(raw):
    with pytest.raises(ConfigError, match="key 'data.resolutoin': unknown key"):
        resolve(apply_overrides(raw, ["data.resolutoin=64"]))


def test_unknown_key_in_a_scale_is_caught_after_merge(raw):
    bad = apply_overrides(raw, ["scales.cpu.data={'resolutoin': 64}"])
    with pytest.raises(ConfigError, match=r"scales\.cpu(.|\n)*key 'data\.resolutoin'"):
        resolve(bad, "cpu")


def test_unknown_scale(raw):
    with pytest.raises(ConfigError, match="key 'scale'"):
        resolve(raw, "huge")


def test_cross_key_checks(raw):
    with pytest.raises(ConfigError, match="train.approaches"):
        resolve(apply_overrides(raw, ["train.approaches=[defmo, nope]"]))
    with pytest.raises(ConfigError, match="evaluate.methods"):
        resolve(apply_overrides(raw, ["evaluate.methods=[image, nope]"]))
    with pytest.raises(ConfigError, match="key 'seeds.approaches' names 'nope'"):
        resolve(apply_overrides(raw, ["seeds.approaches=[defmo, nope]"]))
    # the fit at inference places the object generator's template: any other generator is refused by name
    with pytest.raises(ConfigError, match="key 'model.fit_steps' = 5 needs 'model.generator: object'"):
        resolve(apply_overrides(raw, ["scales.paper.model.fit_steps=5"]), "paper")


def test_the_seed_study_s_seeds_start_at_the_base_seed(repo):
    cfg = load(repo / "params.yaml", scale="cpu", overrides=["seed=5"])
    assert cfg.seeds.count >= 5 and cfg.seeds.values(cfg.seed) == tuple(range(5, 5 + cfg.seeds.count))
    assert cfg.seeds.approaches[0] == "defmo"  # the reference the others are compared with


def test_cli_stops_before_work_with_the_key(repo, tmp_path):
    out = tmp_path / "fig.png"
    cmd = [sys.executable, "-m", "defmo", "--set", "train.lr_g=-1", "figures", "samples", "--output", str(out)]
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "key 'train.lr_g'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_cli_missing_params_file(repo, tmp_path):
    cmd = [sys.executable, "-m", "defmo", "--params", str(tmp_path / "nope.yaml"), "figures", "samples",
           "--output", str(tmp_path / "x.png")]
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 2 and "nope.yaml" in proc.stderr


def test_set_overrides_win_over_the_scale(repo):
    cfg = load(repo / "params.yaml", scale="tiny", overrides=["train.approach.defmo.epochs=3", "data.n_subframes=6"])
    assert cfg.train.approach["defmo"].epochs == 3
    assert cfg.data.n_subframes == 6
    assert cfg.data.resolution == 32  # the rest of the scale still applies
    with pytest.raises(ConfigError, match="key 'data.n_subframes'"):
        load(repo / "params.yaml", scale="tiny", overrides=["data.n_subframes=1"])


# --- Snakemake's overrides: resolved once per run, written for the jobs (workflow/rules/common.smk) ---


def test_nested_config_strings_are_read_as_yaml():
    # What Snakemake 9 hands over for --config 'evaluate={background_window: 7}' train='{"lr_g": 0.0005}' scale=paper
    cli = {"evaluate": {"background_window": "7", "methods": ["image", "defmo"], "max_frames": "null"},
           "train": {"lr_g": "0.0005", "mixed_precision": "true"}, "scale": "paper", "seed": 3}
    assert parse_cli_config(cli) == {
        "evaluate": {"background_window": 7, "methods": ["image", "defmo"], "max_frames": None},
        "train": {"lr_g": 0.0005, "mixed_precision": True}, "scale": "paper", "seed": 3}


def test_a_malformed_nested_config_says_use_configfile():
    with pytest.raises(ConfigError, match=r"--config evaluate: .*--configfile"):
        parse_cli_config({"evaluate": "{background_window: 7"})  # Snakemake keeps what YAML could not parse as a str


def test_a_section_overridden_by_a_scalar_is_refused(raw):
    with pytest.raises(ConfigError, match=r"key 'evaluate' is a section .*--configfile"):
        resolve_with(raw, {"evaluate": 7})


def test_merge_order_user_over_scale_over_top_level(raw):
    # tiny's block sets evaluate.background_variants: [] and data.resolution: 32; the top level has [5] and 128.
    cfg = resolve_with(raw, {"scale": "tiny", "evaluate": {"background_variants": [3]}, "train": {"lr_g": 0.0005}})
    assert cfg.scale == "tiny"
    assert cfg.evaluate.background_variants == [3]  # the user's value beats the scale block's
    assert cfg.evaluate.background_window == 50  # untouched keys: the top level's, merged, not replaced
    assert cfg.data.resolution == 32  # the scale block still beats the top level
    assert cfg.train.lr_g == 0.0005
    assert cfg.train.approach["defmo"].epochs == 1


def test_scales_overrides_change_the_block_before_it_is_merged(raw):
    cfg = resolve_with(raw, {"scales": {"tiny": {"data": {"resolution": 48}}}}, scale="tiny")
    assert cfg.data.resolution == 48 and cfg.scales["tiny"]["data"]["resolution"] == 48


def test_no_overrides_is_load(repo, raw):
    for scale in ("cpu", "paper", "tiny"):
        assert resolve_with(raw, {"scale": scale}) == load(repo / "params.yaml", scale)
    assert resolve_with(raw, {}) == load(repo / "params.yaml")
    assert resolve_with(raw, {"scale": "cpu"}, "paper") == load(repo / "params.yaml", "paper")  # explicit wins


def test_overridden_values_are_validated(raw):
    with pytest.raises(ConfigError, match="key 'evaluate.background_window'"):
        resolve_with(raw, {"evaluate": {"background_window": "seven"}})


def test_user_overrides_merge_configfiles_in_order_then_config(tmp_path):
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("evaluate: {background_window: 7, oversample: 3}\n")
    second.write_text("evaluate: {background_window: 9}\n")
    out = user_overrides([first, second], {"train": {"lr_g": "0.0005"}, "evaluate": {"oversample": "2"}})
    assert out == {"evaluate": {"background_window": 9, "oversample": 2}, "train": {"lr_g": 0.0005}}


def test_resolved_file_round_trips_and_is_named_by_content(repo, tmp_path):
    for scale in ("cpu", "paper", "tiny"):
        cfg = load(repo / "params.yaml", scale)
        path = write_resolved(cfg, tmp_path)
        assert path.name.startswith(f"{scale}-") and load_resolved(path) == cfg
        assert write_resolved(cfg, tmp_path) == path
    other = write_resolved(load(repo / "params.yaml", "cpu", ["evaluate.background_window=7"]), tmp_path)
    assert other.name.startswith("cpu-") and other != write_resolved(load(repo / "params.yaml", "cpu"), tmp_path)


def test_cli_reads_the_resolved_file_not_params(repo, tmp_path):
    cfg = resolve_with(yaml.safe_load((repo / "params.yaml").read_text()), {"evaluate": {"background_window": 7}})
    path = write_resolved(cfg, tmp_path)
    args = build_parser(["figures"]).parse_args(["--params", str(tmp_path / "absent.yaml"), "--config-file", str(path),
                                                 "--set", "train.lr_g=0.0005", "figures", "samples",
                                                 "--output", "x.png"])
    got = load_config(args)
    assert got.evaluate.background_window == 7 and got.train.lr_g == 0.0005
    with pytest.raises(ConfigError, match="--scale"):
        load_config(build_parser(["figures"]).parse_args(["--scale", "tiny", "--config-file", str(path), "figures",
                                                          "samples", "--output", "x.png"]))


def test_config_file_refuses_a_params_file(repo):
    """`--config-file params.yaml` would skip the scale blocks (the paper or tiny scale's values) while the file's
    `scale` labels the run: refused, pointing at --params."""
    args = build_parser(["figures"]).parse_args(["--config-file", str(repo / "params.yaml"), "figures", "samples",
                                                 "--output", "x.png"])
    with pytest.raises(ConfigError, match=r"params file, not a resolved configuration.*--params .*params.yaml"):
        load_config(args)


def test_shared_options_are_accepted_after_the_verb_and_win_there(repo):
    before = build_parser(["figures"]).parse_args(["--scale", "paper", "--set", "seed=1", "figures", "samples",
                                                   "--output", "x.png"])
    assert (before.scale, before.overrides, before.params) == ("paper", ["seed=1"], "params.yaml")
    after = build_parser(["figures"]).parse_args(["--scale", "paper", "figures", "samples", "--output", "x.png",
                                                  "--scale", "tiny", "--set", "seed=3", "-v"])
    assert (after.scale, after.overrides, after.verbose) == ("tiny", ["seed=3"], True)
    assert load_config(after).seed == 3 and load_config(after).scale == "tiny"


def test_every_verb_builds_with_the_shared_options():
    from defmo.cli import VERBS

    for verb in VERBS:  # a verb's own option named like a shared one would raise an argparse conflict here
        build_parser([verb])


def _edited(repo, tmp_path, edit) -> Path:
    raw = yaml.safe_load((repo / "params.yaml").read_text())
    edit(raw)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_a_top_level_value_is_the_default_run_s(repo, tmp_path):
    """What a user sees at the top level of params.yaml is what the default run uses: an edit there (or
    `dvc exp run -S data.resolution=96`, which makes the same edit) changes it."""
    def edit(raw):
        raw["data"]["resolution"] = 96
        raw["train"]["approach"]["defmo"]["losses"]["S"] = 0.3
    cfg = load(_edited(repo, tmp_path, edit))
    assert cfg.scale == "cpu" and cfg.data.resolution == 96
    assert cfg.approach("defmo").losses["S"] == 0.3


def test_a_top_level_value_the_default_scale_replaces_is_reported(repo, tmp_path, caplog):
    def edit(raw):
        raw["data"]["resolution"] = 96
        raw["scales"]["cpu"] = {"data": {"resolution": 64, "workers": raw["data"]["workers"]}}
    with caplog.at_level("WARNING", logger="defmo.config"):
        cfg = load(_edited(repo, tmp_path, edit))
    assert cfg.data.resolution == 64
    assert "does not use the top-level data.resolution: scales.cpu sets it" in caplog.text
    assert "workers" not in caplog.text  # the same value: nothing hidden
    caplog.clear()
    with caplog.at_level("WARNING", logger="defmo.config"):
        load(repo / "params.yaml")  # the committed file hides nothing from the default run
        load(repo / "params.yaml", "paper")  # another scale's block is that scale's, by design
    assert caplog.text == ""
