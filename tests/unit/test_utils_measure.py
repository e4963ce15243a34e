"""The measurements' shared random batch: the same tensors for the same seed, and which RNG it draws from."""

from __future__ import annotations

import torch

from defmo.utils.measure import BATCH_IMAGES, random_batch

CPU = torch.device("cpu")


def test_seeded_batch_is_reproducible_and_leaves_the_global_rng_alone():
    torch.manual_seed(1)
    a = random_batch(2, 3, 16, CPU, seed=7)
    after = torch.rand(3)
    torch.manual_seed(1)
    b = random_batch(2, 3, 16, CPU, seed=7)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(after, torch.rand(3))  # the memory cell's batch does not shift the model's init
    assert not torch.equal(a["image"], random_batch(2, 3, 16, CPU, seed=8)["image"])


def test_global_batch_draws_images_then_frames_from_the_seeded_global_rng():
    """throughput-train seeds the global generator, takes the batch, then builds the model from what is left."""
    torch.manual_seed(3)
    batch = random_batch(2, 3, 16, CPU, seed=None)
    model_draw = torch.rand(4)
    torch.manual_seed(3)
    expected = {k: torch.rand(2, 3, 16, 16) for k in BATCH_IMAGES}
    expected["frames"] = torch.rand(2, 3, 4, 16, 16)
    assert list(batch) == [*BATCH_IMAGES, "frames"]
    assert all(torch.equal(batch[k], expected[k]) for k in expected)
    assert torch.equal(model_draw, torch.rand(4))


def test_default_seed_is_zero():
    a, b = random_batch(1, 2, 8, CPU), random_batch(1, 2, 8, CPU, seed=0)
    assert all(torch.equal(a[k], b[k]) for k in a)
