"""workflow/scripts/diagnose_shape.py: each number of the IoU breakdown on masks whose answer is known by hand,
the whole diagnosis on a generator that returns the GT (every error zero), and ``--fit`` (the fit itself is
tested with the model, tests/unit/test_models_deblat_fit.py)."""

from __future__ import annotations

import importlib.util
import math
import sys

import numpy as np
import pytest
import torch

from helpers import REPO

spec = importlib.util.spec_from_file_location("diagnose_shape", REPO / "workflow" / "scripts" / "diagnose_shape.py")
diag = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = diag
spec.loader.exec_module(diag)


def square(size=32, top=10, left=10, side=6, value=1.0):
    mask = np.zeros((size, size))
    mask[top:top + side, left:left + side] = value
    return mask


def test_a_shifted_copy_loses_iou_that_centring_gives_back():
    gt = square()
    pred = square(left=13)  # 3 px right: overlap 6 x 3 of a union 6 x 9
    out = diag.subframe_diagnosis(pred, gt)
    assert out["iou_0.5"] == pytest.approx(18 / 54)
    assert out["centre_px"] == pytest.approx(3.0)
    assert out["iou_centred"] == pytest.approx(1.0)
    assert out["mass"] == pytest.approx(1.0)
    assert out["soft"] == 0.0


def test_a_soft_halo_shows_in_the_thresholds_and_the_soft_share():
    gt = square()
    pred = square(top=8, left=8, side=10, value=0.3)  # a 10 x 10 halo at 0.3 ...
    pred[10:16, 10:16] = 1.0  # ... around the exact object
    out = diag.subframe_diagnosis(pred, gt)
    assert out["iou_0.5"] == pytest.approx(1.0) and out["iou_0.7"] == pytest.approx(1.0)
    assert out["iou_0.3"] == pytest.approx(1.0)  # a halo at 0.3 is not above 0.3 ...
    pred[pred == 0.3] = 0.35  # ... a halo above it joins the mask
    out = diag.subframe_diagnosis(pred, gt)
    assert out["iou_0.3"] == pytest.approx(36 / 100)
    assert out["soft"] == pytest.approx(64 / 36)
    assert out["mass"] == pytest.approx((36 + 64 * 0.35) / 36)


def test_an_empty_prediction_has_no_centre():
    out = diag.subframe_diagnosis(np.zeros((16, 16)), square(16, 4, 4, 4))
    assert out["iou_0.5"] == 0.0 and math.isnan(out["centre_px"]) and math.isnan(out["soft"])


def test_the_better_time_direction_is_taken():
    gt = np.stack([square(left=4), square(left=12), square(left=20)])
    rows = diag.sample_diagnosis(gt[::-1].copy(), gt)
    assert [r["iou_0.5"] for r in rows] == [1.0, 1.0, 1.0]


class Oracle(torch.nn.Module):
    """Returns the dataset's GT sub-frames for the image it is given (looked up by identity of content)."""

    def __init__(self, items):
        super().__init__()
        self.items = items

    def forward(self, image, background, times):
        for item in self.items:
            if torch.equal(item["image"], image[0]):
                return item["frames"][None], torch.zeros(1)
        raise AssertionError("unknown image")


def test_a_generator_that_returns_the_gt_has_no_error():
    rng = np.random.default_rng(0)
    items = []
    for k in range(3):
        frames = torch.zeros(4, 4, 32, 32)
        for t in range(4):
            frames[t, :, 8 + k:14 + k, 4 + 5 * t:10 + 5 * t] = 1.0
        items.append({"image": torch.tensor(rng.random((3, 32, 32)), dtype=torch.float32),
                      "background": torch.zeros(3, 32, 32), "frames": frames})
    out = diag.diagnose(Oracle(items), items, samples=10)
    assert out["overall"]["subframes"] == 12 and out["straight"]["subframes"] == 12
    assert out["bounce"] == {"subframes": 0}
    for key in ("iou_0.3", "iou_0.5", "iou_0.7", "iou_centred", "mass"):
        assert out["overall"][key] == pytest.approx(1.0)
    assert out["overall"]["centre_px"] == pytest.approx(0.0) and out["overall"]["soft"] == 0.0


def test_fit_sets_the_object_generators_fit_and_refuses_other_generators():
    from defmo.models.object_arch import ObjectGenerator
    frames = torch.zeros(4, 4, 32, 32)
    frames[:, :, 10:16, 10:16] = 1.0
    items = [{"image": torch.rand(3, 32, 32), "background": torch.rand(3, 32, 32), "frames": frames}]
    generator = ObjectGenerator(fit_steps=50)
    diag.diagnose(generator, items, samples=1, fit=0)  # --fit 0: the network alone
    assert generator.fit_steps == 0
    with pytest.raises(diag.UserError, match="--fit needs the object generator"):
        diag.diagnose(Oracle(items), items, samples=1, fit=5)
