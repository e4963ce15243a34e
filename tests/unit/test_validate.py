"""Validation shape metrics (defmo.train.validate) on an exact-GT model, and the ``validate`` verb end to end."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from torch import nn

from defmo.cli import main
from defmo.data import shards
from defmo.data.blatting import composite
from defmo.train import validate
from defmo.utils import provenance
from test_eval_cli import random_checkpoint

torch.set_num_threads(1)
N, S = 4, 32  # sub-frames, image size


def grid() -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel rows and columns ``(S, S)`` each."""
    return torch.meshgrid(torch.arange(S, dtype=torch.float32), torch.arange(S, dtype=torch.float32), indexing="ij")


def disc_frames(xs, y: float = 16.0, r: float = 5.0) -> torch.Tensor:
    """An opaque orange disc at x = ``xs[i]`` in sub-frame i: ``(N, 4, S, S)`` straight RGBA."""
    yy, xx = grid()
    frames = torch.zeros(len(xs), 4, S, S)
    for i, x in enumerate(xs):
        alpha = (((xx - x) ** 2 + (yy - y) ** 2) <= r * r).float()
        frames[i, :3] = torch.tensor([1.0, 0.5, 0.1]).view(3, 1, 1)
        frames[i, 3] = alpha
    return frames


def samples() -> list[dict]:
    """Two discs moving right (3 and 5 px per sub-frame) and a static one, over random backgrounds."""
    g = torch.Generator().manual_seed(0)
    out = []
    for xs in ([8, 11, 14, 17], [6, 11, 16, 21], [15, 15, 15, 15]):
        bg = torch.rand(3, S, S, generator=g)
        frames = disc_frames(xs)
        out.append({"image": composite(frames, bg).mean(0), "background": bg, "frames": frames})
    return out


class ExactNet(nn.Module):
    """Returns the GT sub-frames of the sample whose image it receives (time-reversed with ``reverse``)."""

    def __init__(self, data: list[dict], reverse: bool = False):
        super().__init__()
        self.images = torch.stack([d["image"] for d in data])
        self.frames = torch.stack([d["frames"] for d in data])
        self.reverse = reverse

    def forward(self, image, background, times):
        idx = [int(torch.argmin((self.images - im).abs().flatten(1).sum(1))) for im in image]
        frames = self.frames[idx]
        return (frames.flip(1) if self.reverse else frames), None


def test_alpha_centres_by_hand():
    alpha = np.zeros((2, 5, 6))
    alpha[0, 1, 2] = alpha[0, 1, 4] = 1.0  # two pixels in row 1: x = 3
    alpha[0, 3, 4] = 2.0  # a heavier one: x = (2 + 4 + 8) / 4, y = (1 + 1 + 6) / 4
    np.testing.assert_allclose(validate.alpha_centres(alpha)[0], [3.5, 2.0])
    assert np.isnan(validate.alpha_centres(alpha)[1]).all()  # no mass


@pytest.mark.parametrize("reverse", [False, True])
def test_exact_gt_model_scores_iou_one_and_ratio_one(reverse):
    """The exact GT (in either time order: the better direction is taken per sample) gives PSNR 100 dB, mask
    IoU 1 and length ratio 1 on every sub-frame; the static disc's 4 sub-frames have no motion direction."""
    data = samples()
    model = ExactNet(data, reverse)
    model.train()
    torch_state, np_state, py_state = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    out = validate.evaluate(model, data, torch.device("cpu"), batch_size=2)
    assert model.training  # mode restored
    assert torch.equal(torch.get_rng_state(), torch_state) and np.array_equal(np.random.get_state()[1], np_state)
    assert random.getstate() == py_state  # RNG-neutral: safe during training
    assert out["samples"] == 3 and out["psnr"]["model"] == 100.0
    assert out["shape"] == {"mask_iou": 1.0, "length_ratio": {"median": 1.0, "q25": 1.0, "q75": 1.0},
                            "subframes": 12, "skipped": 4}


def test_a_half_length_prediction_has_ratio_about_one_half():
    """Predicted discs squeezed to an ellipse with semi-axis 2.5 along x (the motion): by hand, the radius-5 disc
    spans |dx| <= 5 (11 px) at an integer centre, the ellipse |dx| <= 2.5 (5 px): ratio 5/11; the ellipse lies
    inside the disc, so the IoU is the ratio of their pixel counts."""
    data = samples()[:1]
    pred = data[0]["frames"].clone()
    yy, xx = grid()
    for i, x in enumerate([8, 11, 14, 17]):
        pred[i, 3] = ((((xx - x) / 2.5) ** 2 + ((yy - 16) / 5) ** 2) <= 1).float()
    scores = validate.batch_shape(pred[None, :, 3].numpy(), data[0]["frames"][None, :, 3].numpy())
    np.testing.assert_allclose(scores[0]["length_ratio"], 5 / 11)
    areas = pred[:, 3].sum((1, 2)) / data[0]["frames"][:, 3].sum((1, 2))
    np.testing.assert_allclose(scores[0]["mask_iou"], areas.numpy())  # the ellipse lies inside the disc
    record = validate.shape_record(scores)
    assert record["length_ratio"]["median"] == pytest.approx(5 / 11) and record["skipped"] == 0


def write_split(root, data: list[dict]) -> None:
    """``data`` as a rendered split folder (one shard + manifest.json), uint8 channels last as stored."""
    def u8(t: torch.Tensor) -> np.ndarray:
        return (t.movedim(-3, -1) * 255).round().to(torch.uint8).numpy()

    arrays = [{"image": u8(d["image"]), "background": u8(d["background"]), "image2": u8(d["image"]),
               "background2": u8(d["background"]), "frames": u8(d["frames"])} for d in data]
    shapes = {k: v.shape for k, v in arrays[0].items()}
    root.mkdir(parents=True)
    size = shards.write_shard(root / shards.shard_name(0), [shards.encode(a) for a in arrays], shapes,
                              [{} for _ in arrays], "test")
    manifest = {"format": shards.FORMAT, "split": "val", "count": len(arrays), "resolution": S, "n_subframes": N,
                "shards": [{"file": shards.shard_name(0), "count": len(arrays), "bytes": size}], "bytes": size}
    (root / shards.MANIFEST).write_text(json.dumps(manifest))


def test_validate_verb_writes_the_json(tmp_path, repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    val = tmp_path / "val"
    write_split(val, samples())
    ckpt = random_checkpoint(tmp_path / "ckpt" / "final.pt", repo)
    out = tmp_path / "out" / "val.json"
    args = ["--params", "params.yaml", "--scale", "tiny", "--set", "threads=1", "validate",
            "--checkpoint", str(ckpt), "--val", str(val), "--output", str(out), "--batch-size", "2"]
    assert main(args) == 0
    result = json.loads(out.read_text())
    assert result["samples"] == 3 and set(result["psnr"]) == {"model", "model_projected", "image", "background"}
    assert set(result["shape"]) == {"mask_iou", "length_ratio", "subframes", "skipped"}
    assert result["shape"]["subframes"] == 12 and 0.0 <= result["shape"]["mask_iou"] <= 1.0
    record = provenance.read(out)
    assert f"validation shards {val.as_posix()} (sha256 " in record["data"] and "model " in record["data"]
    missing = [a if a != str(val) else str(tmp_path / "nope") for a in args]
    assert main(missing) == 2 and "no manifest.json" in capsys.readouterr().err
