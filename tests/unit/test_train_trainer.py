"""Trainer, checkpoints, loop helpers, validation PSNR and the curve figure on tiny tensors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from defmo.config import load
from defmo.errors import UserError
from defmo.losses import defmo as ldefmo
from defmo.losses import learned as llearned
from defmo.models import weights
from defmo.train import checkpoint, cli, loop, trainer as trainer_mod
from defmo.train.plots import plot_curves, read_curve, smooth
from defmo.train.trainer import LossNotFinite, Trainer, _alternate
from defmo.train.validate import psnr_composited

REPO = Path(__file__).resolve().parents[2]
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def cfg():
    return load(REPO / "params.yaml", "tiny", ["device=cpu"])


def batch(b=2, n=4, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    out = {k: torch.rand(b, 3, size, size, generator=g) for k in ("image", "background", "image2", "background2")}
    out["frames"] = torch.rand(b, n, 4, size, size, generator=g)
    return out


def dataset(n=8, seed=0):
    full = batch(n, seed=seed)
    return [{k: v[i] for k, v in full.items()} for i in range(n)]


def test_alternation_plan():
    assert _alternate(1, 2) == ["ds", "dt", "dt"]
    assert _alternate(2, 2) == ["ds", "dt", "ds", "dt"]
    assert _alternate(0, 2) == ["dt", "dt"]
    assert _alternate(1, 0) == ["ds"]
    assert _alternate(0, 0) == []


@pytest.mark.parametrize("approach,nets", [("defmo", {"generator"}), ("proposed", {"generator", "ds", "dt"}),
                                           ("defmo+ds", {"generator", "ds"}), ("defmo+dt", {"generator", "dt"})])
def test_networks_follow_the_loss_weights(cfg, approach, nets):
    tr = Trainer(cfg, approach, "cpu", False, False)
    assert set(tr.nets) == nets == set(tr.optimizers) == set(tr.schedulers) == set(tr.scalers)


@pytest.mark.parametrize("region", ["image", "object"])
def test_loss_i_region_reaches_the_loss(region):
    cfg = load(REPO / "params.yaml", "tiny", ["device=cpu", f"train.loss_i_region={region}"])
    tr = Trainer(cfg, "defmo", "cpu", False, False)
    b = batch()
    b["frames"][:, :, 3] = (b["frames"][:, :, 3] > 0.9).float()  # a sparse object: the two regions differ
    fake = torch.rand_like(b["frames"])
    latent = torch.zeros(2, 4, 2, 2)
    got = tr._generator_terms(fake, latent, latent, b)["I"]
    regions = {"image": None, "object": ldefmo.object_region(b["frames"])}
    want = ldefmo.loss_i(fake, b["image"], b["background"], regions.pop(region))
    other = ldefmo.loss_i(fake, b["image"], b["background"], *regions.values())
    assert got.item() == pytest.approx(want.item(), rel=1e-6)
    assert got.item() != pytest.approx(other.item())


def test_step_reports_weighted_terms_and_updates_every_network(cfg):
    tr = Trainer(cfg, "proposed", "cpu", False, False)
    before = {k: [p.detach().clone() for p in n.parameters()] for k, n in tr.nets.items()}
    terms = tr.train_step(batch())
    assert set(terms) == {"F", "I", "L", "G", "N", "total", "ds", "dt", "skipped"} and terms["skipped"] == 0
    w = cfg.approach("proposed").losses
    assert terms["total"] == pytest.approx(sum(w[k] * terms[k] for k in w), rel=1e-5)
    for name, params in before.items():
        assert any(not torch.equal(a, b) for a, b in zip(params, tr.nets[name].parameters())), name
    assert tr.step == 1


def test_probe_trains_the_generator_on_the_metric_alone(cfg):
    tr = Trainer(cfg, "probe", "cpu", False, False)
    assert set(tr.nets) == {"generator"}
    b = batch()
    terms = tr.train_step(b)
    assert set(terms) == {"C", "total", "skipped"} and terms["total"] == pytest.approx(terms["C"])
    assert 0.0 < terms["C"] < 1.0


def test_an_approach_may_set_its_own_lr_step():
    c = load(REPO / "params.yaml", "tiny", ["train.lr_step=5", "scales.tiny.train.approach.probe.lr_step=2"])
    assert Trainer(c, "probe", "cpu", False, False).schedulers["generator"].step_size == 2
    assert Trainer(c, "defmo", "cpu", False, False).schedulers["generator"].step_size == 5


def _weights_after(c, data, val_set, tmp_path):
    torch.manual_seed(0)
    tr = Trainer(c, "defmo", "cpu", False, False)
    plan = loop.make_plan(c, "defmo", len(data), 1)
    outputs = loop.Outputs(tmp_path / "f.pt", tmp_path / "c.csv", tmp_path / "m.json", tmp_path / "resume")
    history = loop.History()
    torch.manual_seed(1)  # the dataset's flips draw from the global RNG
    loop.run_steps(tr, c, data, plan, outputs, history, val_set)
    return [p.detach().clone() for p in tr.generator.parameters()], history.rows


def test_validation_during_training_changes_nothing_of_the_training(tmp_path):
    """Scores land in the due steps' rows, and a validated run ends with the weights of one without validation
    (a DataLoader drawing its seed from the global RNG would change the later flips)."""
    c = load(REPO / "params.yaml", "tiny", ["device=cpu", "scales.tiny.train.approach.defmo.batch_size=2",
                                            "scales.tiny.train.val_every=2"])
    flipping = _FlippingList(dataset(8))
    plain, _ = _weights_after(c, flipping, None, tmp_path / "a")
    validated, rows = _weights_after(c, flipping, dataset(2, seed=5), tmp_path / "b")
    assert all(torch.equal(a, b) for a, b in zip(plain, validated))
    assert [r["step"] for r in rows if "val_model" in r] == [2]  # step 4 is the last: the caller validates it
    assert set(loop.VAL_COLUMNS) <= set(rows[1]) and rows[1]["val_image"] > 0


class _FlippingList(list):
    """A list dataset that flips items with the global torch RNG, as ``SyntheticFMODataset(flips=True)`` does."""

    def __getitem__(self, i):
        item = super().__getitem__(i)
        if torch.rand(()) < 0.5:
            item = {k: v.flip(-1) for k, v in item.items()}
        return item


def test_discriminator_steps_do_not_touch_the_generator(cfg, monkeypatch):
    tr = Trainer(cfg, "proposed", "cpu", False, False)
    calls = []
    real_update = tr._update
    monkeypatch.setattr(tr, "_update", lambda name, loss: (calls.append(name), real_update(name, loss)))
    tr.train_step(batch())
    assert calls == ["generator", "ds", "dt", "dt"]  # 1 D_S step and 2 D_T steps per generator step


def _bn_buffers(net):
    return {name: buf.clone() for name, buf in net.named_buffers() if "running" in name or "num_batches" in name}


def test_generator_step_runs_the_discriminators_in_eval_mode():
    """Batch norm of D_S / D_T keeps its running statistics through the generator step, L_G is D_S's eval-mode
    value, and both networks are back in train mode for their own steps."""
    c = load(REPO / "params.yaml", "tiny", ["device=cpu", "scales.tiny.model.discriminator=resnet18"])
    torch.manual_seed(0)
    tr = Trainer(c, "proposed", "cpu", False, False)
    ds, dt = tr.nets["ds"], tr.nets["dt"]
    tr._discriminator_steps(batch()["frames"], torch.rand(2, 4, 4, 32, 32))  # running stats away from init
    before = {name: _bn_buffers(tr.nets[name]) for name in ("ds", "dt")}
    assert before["ds"] and before["dt"]
    fake, terms = tr._generator_step(tr._to_device(batch(seed=1)))
    for name in ("ds", "dt"):
        after = _bn_buffers(tr.nets[name])
        assert all(torch.equal(before[name][k], after[k]) for k in after), name
    assert ds.training and dt.training
    assert all(p.requires_grad for p in (*ds.parameters(), *dt.parameters()))
    ds.eval()
    with torch.no_grad():
        by_hand = llearned.wgan_generator_loss(ds, fake.detach())
        ds.train()
        train_mode = llearned.wgan_generator_loss(ds, fake.detach())
    assert terms["G"] == pytest.approx(by_hand.item(), rel=1e-5, abs=1e-6)
    assert terms["G"] != pytest.approx(train_mode.item(), rel=1e-3, abs=1e-6)


def test_dt_column_logs_the_mean_bce_per_pair(cfg, monkeypatch):
    """The curve's ``dt`` is loss_n / pair_loss_scale (ln 2 at chance) while D_T optimises loss_n itself."""
    for pairs in ("all", "sampled"):
        c = load(REPO / "params.yaml", "tiny", ["device=cpu", f"scales.tiny.model.dt_pairs={pairs}"])
        tr = Trainer(c, "defmo+dt", "cpu", False, False)
        optimised = []
        real_update = tr._update
        monkeypatch.setattr(tr, "_update", lambda name, loss: (optimised.append(float(loss.detach())), real_update(name, loss)))
        dt = tr.nets["dt"]
        tr.wrapped["dt"] = lambda first, second: 0.0 * dt(first, second)  # logit 0 for every pair: chance
        out = tr._discriminator_steps(batch()["frames"], torch.rand(2, 4, 4, 32, 32))
        scale = llearned.pair_loss_scale(pairs)
        assert optimised[0] == pytest.approx(scale * math.log(2), rel=1e-5)
        assert out["dt"] == pytest.approx(sum(optimised) / len(optimised) / scale, rel=1e-6)


def test_nan_loss_is_skipped_then_stops_naming_the_term(monkeypatch):
    """A NaN loss skips the update (weights untouched) and is counted; the run stops only once
    train.max_skipped_steps (here 2) consecutive generator updates were skipped, naming the term."""
    c = load(REPO / "params.yaml", "tiny", ["device=cpu", "train.max_skipped_steps=2"])
    tr = Trainer(c, "defmo", "cpu", False, False)
    before = [p.detach().clone() for p in tr.generator.parameters()]
    monkeypatch.setattr(ldefmo, "loss_t", lambda pred: pred.sum() * float("nan"))
    terms = tr.train_step(batch())
    assert terms["skipped"] == 1 and math.isnan(terms["T"]) and tr.skipped == {"generator": 1}
    with pytest.raises(LossNotFinite, match=r"step 2: .* 2 consecutive steps .*loss \('T' = nan\)"):
        tr.train_step(batch())
    assert tr.step == 1 and tr.skipped == {"generator": 2}
    assert all(torch.equal(a, b) for a, b in zip(before, tr.generator.parameters()))


def test_nan_in_the_loop_keeps_the_last_good_checkpoint(cfg, tmp_path, monkeypatch):
    c = load(REPO / "params.yaml", "tiny", ["device=cpu", "scales.tiny.train.checkpoint_every=1",
                                            "scales.tiny.train.approach.defmo.batch_size=2",
                                            "train.max_skipped_steps=2"])
    tr = Trainer(c, "defmo", "cpu", False, False)
    data = dataset(8)
    plan = loop.make_plan(c, "defmo", len(data), 1)
    outputs = loop.Outputs(tmp_path / "f.pt", tmp_path / "c.csv", tmp_path / "m.json", tmp_path / "resume")
    real_t = ldefmo.loss_t
    monkeypatch.setattr(ldefmo, "loss_t", lambda p: real_t(p) * (float("inf") if tr.step >= 2 else 1.0))
    history = loop.History()
    with pytest.raises(LossNotFinite, match=r"step 4: .* 2 consecutive steps .*'T' = inf"):
        loop.run_steps(tr, c, data, plan, outputs, history)
    assert [r["skipped"] for r in history.rows] == [0, 0, 1]  # step 3 skipped, step 4 stopped the run
    assert "skipped" in loop.curve_csv(history.rows).splitlines()[0].split(",")
    saved = checkpoint.load(outputs.last)["trainer"]
    assert saved["step"] == 3 and saved["skipped"] == {"generator": 1}  # written after the skipped step 3
    assert all(torch.isfinite(w).all() for w in saved["nets"]["generator"].values() if w.is_floating_point())


def test_checkpoint_round_trip_and_load_generator(cfg, tmp_path):
    tr = Trainer(cfg, "proposed", "cpu", False, False)
    tr.train_step(batch())
    path = tmp_path / "ck.pt"
    checkpoint.save(path, tr, cfg)
    payload = torch.load(path, weights_only=True)  # no pickled code
    assert payload["cfg"] == cfg.to_dict() and payload["trainer"]["step"] == 1  # checkpoints store the plain dict
    assert set(payload["trainer"]["optimizers"]) == {"generator", "ds", "dt"}
    gen, saved_cfg = weights.load_generator(path, "cpu")
    assert not gen.training and saved_cfg == cfg.to_dict()
    b = batch(seed=3)
    times = torch.linspace(0, 1, 4)
    tr.generator.eval()
    with torch.no_grad():
        assert torch.equal(gen(b["image"], b["background"], times)[0],
                           tr.generator(b["image"], b["background"], times)[0])
    tr2 = Trainer(cfg, "proposed", "cpu", False, False)
    checkpoint.resume(path, tr2)
    assert tr2.step == 1
    for a, b2 in zip(tr.optimizers["dt"].state_dict()["state"].values(),
                     tr2.optimizers["dt"].state_dict()["state"].values()):
        assert torch.equal(a["exp_avg"], b2["exp_avg"])


def test_rng_state_round_trip():
    import random

    state = checkpoint.rng_state()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    checkpoint.set_rng_state(state)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


def test_foreign_checkpoint_is_a_user_error_that_never_says_delete(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save({"hello": 1}, bad)
    messages = []
    with pytest.raises(UserError, match="not a checkpoint of this version of `defmo train`") as info:
        checkpoint.load(bad)
    messages.append(str(info.value))
    # DeFMO's published weights (a plain state dict) are recognised and pointed at the `original` method
    published = tmp_path / "encoder_best.pt"
    torch.save({"layer1.0.conv1.weight": torch.zeros(2, 2)}, published)
    with pytest.raises(UserError, match="DeFMO's published.*evaluate.original_weights") as info:
        checkpoint.load(published)
    messages.append(str(info.value))
    damaged = tmp_path / "final.pt"
    damaged.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(UserError, match="not a readable PyTorch checkpoint") as info:
        checkpoint.load(damaged)
    messages.append(str(info.value))
    with pytest.raises(UserError, match="no such checkpoint"):
        checkpoint.load(tmp_path / "missing.pt")
    assert not any("delete" in m.lower() for m in messages), messages


def test_plan_and_batches(cfg):
    plan = loop.make_plan(cfg, "defmo", 10, 1)
    assert (plan.batch_size, plan.steps_per_epoch, plan.total_steps) == (4, 2, 2)
    with pytest.raises(UserError, match="fewer than"):
        loop.make_plan(cfg, "defmo", 3, 1)
    with pytest.raises(UserError, match="divisible"):
        loop.make_plan(cfg, "defmo", 10, 3)
    epoch0 = loop.batch_indices(cfg, plan, 10, 0) + loop.batch_indices(cfg, plan, 10, 1)
    assert len(set(epoch0)) == 8 and loop.batch_indices(cfg, plan, 10, 0) == epoch0[:4]
    assert loop.batch_indices(cfg, plan, 10, 2) != loop.batch_indices(cfg, plan, 10, 0)  # reshuffled per epoch
    capped = load(REPO / "params.yaml", "tiny", ["train.max_steps=1"])
    assert loop.make_plan(capped, "defmo", 10, 1).total_steps == 1


def test_psnr_composited_by_hand():
    gt = torch.zeros(1, 2, 3, 2, 2)
    est = gt.clone()
    est[0, 0, 0, 0, 0] = 0.5  # one of 24 values off by 0.5: MSE = 0.25 / 24
    assert psnr_composited(est, gt).item() == pytest.approx(10 * math.log10(24 / 0.25), rel=1e-5)
    assert psnr_composited(gt, gt).item() == 100.0
    seq = torch.rand(2, 5, 3, 4, 4)
    assert torch.allclose(psnr_composited(seq.flip(1), seq), torch.full((2,), 100.0))  # better direction


def test_curves_figure(tmp_path, cfg):
    rows = [{"step": i + 1, "epoch": 0, "lr_g": 1e-3, "F": 1.0 / (i + 1), "total": 2.0 / (i + 1)} for i in range(5)]
    csv_path = tmp_path / "train_defmo.csv"
    csv_path.write_text(loop.curve_csv(rows))
    cols = read_curve(csv_path)
    assert set(cols) == {"step", "F", "total"} and cols["F"][1] == 0.5
    out = tmp_path / "fig.png"
    plot_curves([csv_path, csv_path], out, cfg)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.allclose(smooth(np.array([1.0, 3.0, 5.0, 7.0]), 2), [1.0, 2.0, 4.0, 6.0])


def test_curves_figure_with_validation(tmp_path, cfg):
    rows = [{"step": i + 1, "F": 1.0, **({"val_model": 20.0 + i, "val_image": 27.0} if i % 2 else {})}
            for i in range(4)]
    csv_path = tmp_path / "train_probe.csv"
    csv_path.write_text(loop.curve_csv(rows))
    cols = read_curve(csv_path)
    assert np.array_equal(cols["val_model"], [np.nan, 21.0, np.nan, 23.0], equal_nan=True)
    assert "val_background" not in cols  # never written: left out
    out = tmp_path / "fig.png"
    plot_curves([csv_path], out, cfg)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_paper_scale_one_step_smoke(tmp_path):
    """Paper scale (128x128, N=24, ResNet-18 discriminators, batch overridden) through train() for 1 step."""
    c = load(REPO / "params.yaml", "paper", ["device=cpu", "train.max_steps=1", "threads=1",
                                             "train.approach.proposed.batch_size=1"])
    assert (c.data.resolution, c.data.n_subframes, c.model.discriminator) == (128, 24, "resnet18")
    full = batch(2, n=24, size=128)
    data = [{k: v[i] for k, v in full.items()} for i in range(2)]
    outputs = loop.Outputs(tmp_path / "final.pt", tmp_path / "c.csv", tmp_path / "m.json", tmp_path / "r")
    metrics = cli.train(c, "proposed", data, data[:1], outputs)
    assert metrics["steps"] == 1 and metrics["samples"] == 1 and math.isfinite(metrics["psnr"]["model"])
    assert metrics["skipped_steps"] == {"generator": 0, "ds": 0, "dt": 0}
    assert weights.load_generator(outputs.final)[1]["scale"] == "paper"
    assert len(read_curve(outputs.curve)["step"]) == 1


def test_cli_names_missing_data(tmp_path):
    from defmo.cli import main

    code = main(["--scale", "tiny", "train", "--approach", "defmo", "--data", str(tmp_path / "nope"),
                 "--val", str(tmp_path), "--out", str(tmp_path / "o.pt"), "--curve", str(tmp_path / "c.csv"),
                 "--metrics", str(tmp_path / "m.json"), "--resume-dir", str(tmp_path / "r")])
    assert code == 2
