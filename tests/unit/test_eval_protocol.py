"""The per-frame protocol end to end on a tiny disc sequence: boxes, median background, oracle and baselines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from defmo.evaluate import methods, protocol
from defmo.evaluate.loaders import load_dataset
from test_eval_loaders import H, R, W, write_sequence

torch.set_num_threads(1)


@pytest.fixture()
def dataset(tmp_path):
    scene = write_sequence(tmp_path, "disc_GTgamma", frames=5, hs_first=1)
    (seq,) = load_dataset(tmp_path, "falling_objects")
    return seq, scene


def frame_of(scene, image) -> int:
    """The index of the scene's frame whose blurred image is ``image``."""
    n = scene["n"]
    blurred = np.stack([scene["hs"][k * n : (k + 1) * n].mean(0) for k in range(len(scene["hs"]) // n)])
    return int(np.argmin(np.abs(blurred - image).reshape(len(blurred), -1).sum(1)))


def oracle(scene, reverse=False):
    """Returns the GT high-speed frames and centres of the frame whose blurred image it receives."""
    n = scene["n"]

    def method(image, background, box, nsplits, radius, obj_dim):
        k = frame_of(scene, image)
        est, traj = scene["hs"][k * n : (k + 1) * n], scene["centres"][k * n : (k + 1) * n]
        return (est[::-1], traj[::-1]) if reverse else (est, traj)

    return method


def test_median_background_window_rule(dataset):
    seq, _ = dataset
    bg = protocol.MedianBackground(seq, 2)
    imgs = [seq.image(k) for k in range(seq.frames)]
    expected = [(0, 1), (0, 1), (0, 1), (1, 2), (2, 3)]  # warm-up, then the 2 previous frames
    for k, (a, b) in enumerate(expected):
        np.testing.assert_allclose(bg.current(), np.median(np.stack([imgs[a], imgs[b]]), axis=0))
        bg.push(k, imgs[k])


def test_boxes_cover_the_object(dataset):
    seq, scene = dataset
    traj, radius = seq.trajectory(1)
    box = protocol.gt_box(traj, radius, (H, W, 3))
    assert box[0] == int(traj[:, 1].min()) - radius and box[1] == int(traj[:, 0].min()) - radius
    hs = seq.high_speed(1, (H, W))
    tight = protocol.tight_box(box, hs, scene["bg"])
    moving = np.abs(hs - scene["bg"]).sum(-1).max(0) > 0.1
    rows, cols = np.nonzero(moving)
    assert (tight[0], tight[1], tight[2], tight[3]) == (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1)
    extents = []
    for frame in hs:
        r, c = np.nonzero(np.abs(frame - scene["bg"]).sum(-1) > 0.1)
        extents.append((r.max() - r.min() + 1, c.max() - c.min() + 1))
    assert protocol.object_size(tight, hs, scene["bg"]) == tuple(np.max(extents, axis=0))
    assert 2 * R <= max(max(e) for e in extents) <= 2 * R + 1


def test_oracle_scores_perfectly_in_both_directions(dataset):
    seq, scene = dataset
    for reverse in (False, True):
        rows = protocol.evaluate_sequence(seq, oracle(scene, reverse), window=5)
        assert len(rows) == 5
        for row in rows:
            assert row["psnr"] > 50  # the GT PNGs are 8-bit: only rounding differs
            assert row["ssim"] == pytest.approx(1.0, abs=1e-3)
            assert row["tiou"] == pytest.approx(1.0)
            assert row["flipped"] == reverse


def test_baselines_are_finite_and_without_tiou(dataset):
    seq, _ = dataset
    summaries = {}
    for name, method in (("image", methods.image_method), ("background", methods.background_method)):
        summaries[name] = protocol.summarize({seq.name: protocol.evaluate_sequence(seq, method, window=5)})
    for s in summaries.values():
        assert s["tiou"] is None and s["frames"] == 5 and s["n_sequences"] == 1
        assert 5 < s["psnr"] < 60 and 0 < s["ssim"] < 1
    assert summaries["image"]["psnr"] != summaries["background"]["psnr"]


def test_summarize_averages_sequences_equally():
    rows_a = [{"tiou": 1.0, "psnr": 10.0, "ssim": 0.5, "psnr_proj": 12.0, "ssim_proj": 0.6, "seconds": 1.0}] * 3
    rows_b = [{"tiou": float("nan"), "psnr": 20.0, "ssim": 0.7, "psnr_proj": 20.0, "ssim_proj": 0.7, "seconds": 3.0}]
    out = protocol.summarize({"a": rows_a, "b": rows_b})
    assert out["psnr"] == pytest.approx(15.0) and out["ssim"] == pytest.approx(0.6)
    assert out["psnr_proj"] == pytest.approx(16.0) and out["ssim_proj"] == pytest.approx(0.65)
    assert out["tiou"] == pytest.approx(1.0)  # NaN-safe over sequences
    assert out["sequences"]["b"]["tiou"] is None
    assert out["seconds_per_frame"] == pytest.approx(1.5) and out["frames"] == 4


class DiscNet(torch.nn.Module):
    """Follows the Generator interface: renders a disc at a fixed crop position, times-independent x."""

    def forward(self, image, background, times):
        b, _, h, w = image.shape
        yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        frames = []
        for t in times:
            cx, cy = 0.25 * w + 0.5 * w * float(t), 0.5 * h
            alpha = (((xx - cx) ** 2 + (yy - cy) ** 2) <= (0.1 * w) ** 2).float()
            frames.append(torch.cat([torch.ones(3, h, w), alpha[None]]))
        return torch.stack(frames)[None].expand(b, -1, -1, -1, -1), None


def test_network_method_pastes_and_maps_trajectory():
    rng = np.random.default_rng(0)
    image, background = rng.uniform(0, 1, (60, 80, 3)), rng.uniform(0, 1, (60, 80, 3))
    box = np.array([20, 30, 36, 50])
    method = methods.NetworkMethod(DiscNet(), (32, 32), oversample=3, device=torch.device("cpu"))
    result = method(image, background, box, 4, 3, (6, 6))
    est, traj = result.frames, result.traj
    assert est.shape == (4, 60, 80, 3) and traj.shape == (4, 2)
    crop_box = methods.network_box(box, 3, (32, 32), image.shape)
    assert crop_box[2] - crop_box[0] == crop_box[3] - crop_box[1]  # square network crop
    outside = np.ones((60, 80), bool)
    outside[crop_box[0] : crop_box[2], crop_box[1] : crop_box[3]] = False
    np.testing.assert_array_equal(est[:, outside], np.repeat(image[None], 4, 0)[:, outside])
    # x moves left to right across the crop, y stays at its middle row (1-based centroid, mapped back)
    scale = (crop_box[3] - crop_box[1]) / 32
    assert np.all(np.diff(traj[:, 0]) > 0)
    assert traj[:, 1] == pytest.approx(crop_box[0] + (16 + 1) * scale, abs=0.6 * scale)
    assert crop_box[1] < traj[:, 0].min() and traj[:, 0].max() < crop_box[3]


def test_group_mean_and_times():
    assert len(methods.render_times(4, 5)) == 21 and len(methods.render_times(4, 1)) == 4
    x = torch.arange(21.0)
    np.testing.assert_allclose(methods.group_mean(x, 4).numpy(), [2, 7, 12, 17])


def test_estimates_outside_the_unit_range_are_scored_unclipped(dataset):
    """An estimate off GT by 0.3 everywhere, pushed away from 0.5 (so partly outside [0, 1]), scores the PSNR of
    its unclipped error (MSE 0.09), as the benchmark does; clipping would have lowered the error."""
    seq, _ = dataset
    image = seq.image(1)
    gt = seq.high_speed(1, image.shape[:2])
    off = np.where(gt >= 0.5, gt + 0.3, gt - 0.3)
    assert off.min() < 0 or off.max() > 1

    def shifted(image, background, box, n, radius, obj_dim):
        return off, None

    row = protocol.evaluate_frame(seq, 1, image, np.median(np.stack([seq.image(k) for k in range(5)]), 0), shifted)
    assert not row["flipped"]
    assert row["psnr"] == pytest.approx(20 * np.log10(1 / 0.3), rel=1e-9)
    est_crop = row["crops"][2]
    assert est_crop.min() < 0 or est_crop.max() > 1  # the scored crop itself is unclipped


class GroupNet(torch.nn.Module):
    """Time step i of T: even i -> RGB 1 under alpha 0 (RGB unconstrained there), odd i -> RGB 0.2, alpha 0.6."""

    def forward(self, image, background, times):
        b, _, h, w = image.shape
        frames = torch.empty(b, len(times), 4, h, w)
        frames[:, 0::2] = torch.tensor([1.0, 1.0, 1.0, 0.0]).view(1, 1, 4, 1, 1)
        frames[:, 1::2] = torch.tensor([0.2, 0.2, 0.2, 0.6]).view(1, 1, 4, 1, 1)
        return frames, None


def test_network_method_averages_rgba_then_composites_once():
    """DeFMO's wrapper averages the straight RGBA of each group of oversampled steps, then composites once:
    group mean RGB 0.6, alpha 0.3 over B = 0.4 -> 0.6 * 0.3 + 0.7 * 0.4 = 0.46 (compositing each step first
    would give (0.4 + 0.2 * 0.6 + 0.4 * 0.4) / 2 = 0.34)."""
    image, background = np.full((16, 16, 3), 0.5), np.full((16, 16, 3), 0.4)
    method = methods.NetworkMethod(GroupNet(), (16, 16), oversample=2, device=torch.device("cpu"))
    rgb, rgba = method.render(image, background, np.array([0, 0, 16, 16]), 3)  # 7 steps: 3 pairs, last dropped
    assert rgb.shape == (3, 3, 16, 16) and rgba.shape == (3, 4, 16, 16)
    torch.testing.assert_close(rgba[:, :3], torch.full((3, 3, 16, 16), 0.6))
    torch.testing.assert_close(rgba[:, 3], torch.full((3, 16, 16), 0.3))
    torch.testing.assert_close(rgb, torch.full((3, 3, 16, 16), 0.46))


def test_network_estimate_keeps_the_bicubic_overshoot():
    """The pasted estimate is not clamped after the bicubic resize back (the benchmark's wrapper does not)."""
    image, background = np.zeros((60, 80, 3)), np.zeros((60, 80, 3))
    method = methods.NetworkMethod(DiscNet(), (16, 16), oversample=1, device=torch.device("cpu"))
    est = method(image, background, np.array([20, 30, 36, 50]), 4, 3, (6, 6)).frames
    assert est.max() > 1.0 and est.min() < 0.0  # a white disc's edge on black, upsampled bicubically


class ClearNet(torch.nn.Module):
    """Every sub-frame fully transparent except an opaque grey square in the middle of the crop."""

    def forward(self, image, background, times):
        frames = torch.zeros(1, len(times), 4, *image.shape[-2:])
        frames[:, :, :3, 6:10, 6:10] = 0.5
        frames[:, :, 3, 6:10, 6:10] = 1.0
        return frames, None


def test_full_composite_keeps_the_background_detail_that_the_crop_composite_resizes_away():
    """composite="full": where alpha is 0 at the network's size (and after the resize back) the estimate is the
    full-resolution background, bit for bit; composite="crop" (the benchmark's wrapper) passes the whole crop
    through the 16x16 network size and back, blurring a textured background."""
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 1, (60, 80, 3))
    background = image.copy()
    box = np.array([20, 30, 36, 50])
    crop_box = methods.network_box(box, 3, (16, 16), image.shape)
    ests = {mode: methods.NetworkMethod(ClearNet(), (16, 16), 1, torch.device("cpu"), mode)(
        image, background, box, 2, 3, None).frames for mode in methods.COMPOSITES}
    crop = (slice(None), slice(crop_box[0], crop_box[0] + 6), slice(crop_box[1], crop_box[1] + 6))  # alpha 0 there
    np.testing.assert_array_equal(ests["full"][crop], np.repeat(background[None], 2, 0)[crop])
    assert np.abs(ests["crop"][crop] - np.repeat(background[None], 2, 0)[crop]).mean() > 0.05
    centre = (slice(None), (crop_box[0] + crop_box[2]) // 2, (crop_box[1] + crop_box[3]) // 2)
    np.testing.assert_allclose(ests["full"][centre], 0.5, atol=1e-6)  # the opaque square, resized back
    with pytest.raises(ValueError, match="composite"):
        methods.NetworkMethod(ClearNet(), (16, 16), 1, torch.device("cpu"), "sharp")


# ---------------------------------------------------------------- shape metrics and bounce frames (ours)


@pytest.fixture()
def alpha_dataset(tmp_path):
    scene = write_sequence(tmp_path, "disc_GTgamma", frames=3, hs_first=1, alpha=True)
    (seq,) = load_dataset(tmp_path, "falling_objects")
    return seq, scene


def alpha_oracle(scene, alpha_of=lambda a: a):
    """:func:`oracle` as an Estimate whose alpha is ``alpha_of`` the frame's exact GT alpha."""
    n = scene["n"]

    def method(image, background, box, nsplits, radius, obj_dim):
        frames = slice(frame_of(scene, image) * n, (frame_of(scene, image) + 1) * n)
        return protocol.Estimate(scene["hs"][frames], scene["centres"][frames], alpha_of(scene["alpha"][frames]))

    return method


def test_exact_gt_alpha_scores_iou_one_and_ratio_one(alpha_dataset):
    seq, scene = alpha_dataset
    rows = protocol.evaluate_sequence(seq, alpha_oracle(scene), window=3)
    for row in rows:
        assert row["mask_iou"] == 1.0 and not row["shape_flipped"]
        np.testing.assert_array_equal(row["mask_ious"], np.ones(8))
        np.testing.assert_allclose(row["length_ratios"], np.ones(8))  # the disc moves in every sub-frame
    summary = protocol.summarize({seq.name: rows})
    assert summary["mask_iou"] == 1.0 and summary["length_ratio"] == {"median": 1.0, "q25": 1.0, "q75": 1.0}
    assert summary["shape_subframes"] == 24 and summary["length_ratio_skipped"] == 0
    assert summary["sequences"][seq.name]["mask_iou"] == 1.0
    reversed_rows = protocol.evaluate_sequence(seq, alpha_oracle(scene, lambda a: a[::-1]), window=3)
    assert all(r["shape_flipped"] and r["mask_iou"] == 1.0 for r in reversed_rows)


def test_shifted_alpha_lowers_the_iou_and_keeps_the_length(alpha_dataset):
    """The GT discs (radius 4) moved 3 px right. By pixel counting, a radius-4 disc and itself shifted by 3 px
    have IoU 1/3 to 0.41 depending on the sub-pixel centre (the tight box may cut off some of the shifted mask,
    which raises it a little), and the shift keeps the extent along the motion: ratio 1 where nothing is cut."""
    seq, scene = alpha_dataset
    image = seq.image(1)
    background = np.median(np.stack([seq.image(k) for k in range(3)]), 0)
    row = protocol.evaluate_frame(seq, 1, image, background, alpha_oracle(scene, lambda a: np.roll(a, 3, axis=2)))
    assert np.all((row["mask_ious"] >= 1 / 3 - 1e-9) & (row["mask_ious"] <= 0.5)), row["mask_ious"]
    assert row["mask_iou"] == pytest.approx(row["mask_ious"].mean()) and not row["shape_flipped"]
    assert np.median(row["length_ratios"]) == pytest.approx(1.0)


def test_baselines_have_no_shape_metrics(alpha_dataset):
    seq, _ = alpha_dataset
    rows = protocol.evaluate_sequence(seq, methods.image_method, window=3)
    assert all(np.isnan(r["mask_iou"]) and r["mask_ious"] is None and r["length_ratios"] is None for r in rows)
    summary = protocol.summarize({seq.name: rows})
    assert summary["mask_iou"] is None and summary["length_ratio"] is None and summary["shape_subframes"] == 0
    assert summary["sequences"][seq.name]["mask_iou"] is None


def test_network_method_returns_its_alpha_in_image_coordinates():
    """The alpha is the group-averaged alpha resized back into the network crop box exactly as the "full"
    composite pastes the RGBA, zero outside the crop, for either composite."""
    rng = np.random.default_rng(0)
    image, background = rng.uniform(0, 1, (60, 80, 3)), rng.uniform(0, 1, (60, 80, 3))
    box = np.array([20, 30, 36, 50])
    crop_box = methods.network_box(box, 3, (16, 16), image.shape)
    for mode in methods.COMPOSITES:
        method = methods.NetworkMethod(ClearNet(), (16, 16), 1, torch.device("cpu"), mode)
        out = method(image, background, box, 2, 3, None)
        assert isinstance(out, protocol.Estimate) and out.alpha.shape == (2, 60, 80)
        inside = np.zeros((60, 80), bool)
        inside[crop_box[0] : crop_box[2], crop_box[1] : crop_box[3]] = True
        assert (out.alpha[:, ~inside] == 0).all() and 0 <= out.alpha.min() and out.alpha.max() <= 1
        _, rgba = method.render(image, background, crop_box, 2)
        np.testing.assert_array_equal(out.alpha[:, inside].reshape(2, *(crop_box[2:] - crop_box[:2])),
                                      method.resize_back(rgba, crop_box)[:, 3].double().numpy())
        centre = ((crop_box[0] + crop_box[2]) // 2, (crop_box[1] + crop_box[3]) // 2)
        assert out.alpha[:, centre[0], centre[1]] == pytest.approx(1.0)  # the opaque square, resized back


def test_bounce_flag_straight_versus_v_shaped_path():
    t = np.linspace(0, 1, 8)
    straight = np.stack([10 + 30 * t, 5 + 12 * t], axis=1)
    assert not protocol.is_bounce(straight)
    assert not protocol.is_bounce(straight + np.array([[0, 0]] * 4 + [[0, 1.0]] * 4))  # 1 px off a 32 px chord
    v_shape = np.stack([10 + 30 * t, 40 - 30 * (1 - np.abs(2 * t - 1))], axis=1)  # down and up again
    assert protocol.is_bounce(v_shape)
    # the threshold: apex 0.15 x chord off the chord is not a bounce yet, a little more is
    chord = np.array([[0.0, 0.0], [5.0, 0.0], [10.0, 0.0]])
    assert not protocol.is_bounce(chord + [[0, 0], [0, 1.5], [0, 0]])
    assert protocol.is_bounce(chord + [[0, 0], [0, 1.51], [0, 0]])
    assert protocol.is_bounce(np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 0.0]]))  # there and back: chord 0
    assert not protocol.is_bounce(np.zeros((8, 2)))


def test_summarize_pools_shape_metrics_and_keeps_a_bounce_record():
    def row(psnr, ious, ratios, bounce, seconds=1.0):
        return {"tiou": 0.5, "psnr": psnr, "ssim": 0.5, "psnr_proj": psnr, "ssim_proj": 0.5, "seconds": seconds,
                "mask_iou": float(np.mean(ious)), "mask_ious": np.array(ious, float),
                "length_ratios": np.array(ratios, float), "bounce": bounce}

    per_seq = {"a": [row(10.0, [1.0, 0.0], [1.0, np.nan], False), row(20.0, [0.5, 0.5], [2.0, 3.0], True)],
               "b": [row(30.0, [1.0, 1.0], [0.5, 1.5], True, 3.0)]}
    out = protocol.summarize(per_seq)
    assert out["psnr"] == pytest.approx((15.0 + 30.0) / 2)  # sequences weighted equally
    assert out["mask_iou"] == pytest.approx(4.0 / 6)  # pooled over the 6 sub-frames
    assert out["length_ratio"] == {"median": 1.5, "q25": 1.0, "q75": 2.0}  # 0.5, 1, 1.5, 2, 3
    assert out["shape_subframes"] == 6 and out["length_ratio_skipped"] == 1
    bounce = out["bounce"]
    assert "sequences" not in bounce and bounce["frames"] == 2 and bounce["n_sequences"] == 2
    assert bounce["psnr"] == pytest.approx(25.0) and bounce["mask_iou"] == pytest.approx(0.75)
    assert bounce["seconds_per_frame"] == pytest.approx(2.0)
    none = protocol.summarize({"a": per_seq["a"][:1]})["bounce"]
    assert none["frames"] == 0 and none["psnr"] is None
    assert none["mask_iou"] is None and none["length_ratio"] is None


def test_paste_crop_is_what_paste_puts_inside_the_crop():
    """deblur keeps only the crop (paste_crop); the benchmark's whole-frame estimate (paste) is the input image
    with exactly those values inside the crop, for either composite."""
    rng = np.random.default_rng(1)
    image, background = rng.uniform(0, 1, (60, 80, 3)), rng.uniform(0, 1, (60, 80, 3))
    crop_box = methods.network_box(np.array([20, 30, 36, 50]), 3, (16, 16), image.shape)
    for mode in methods.COMPOSITES:
        method = methods.NetworkMethod(ClearNet(), (16, 16), 1, torch.device("cpu"), mode)
        rgb, rgba = method.render(image, background, crop_box, 2)
        whole = method.paste(image, background, crop_box, rgb, rgba)
        inside = np.zeros((60, 80), bool)
        inside[crop_box[0] : crop_box[2], crop_box[1] : crop_box[3]] = True
        crop = method.paste_crop(background, crop_box, rgb, rgba)
        assert crop.shape == (2, *(crop_box[2:] - crop_box[:2]), 3) and crop.dtype == np.float64
        np.testing.assert_array_equal(whole[:, crop_box[0] : crop_box[2], crop_box[1] : crop_box[3]], crop)
        np.testing.assert_array_equal(whole[:, ~inside], np.repeat(image[None], 2, axis=0)[:, ~inside])
        assert not np.shares_memory(whole, image)
