"""The original DeFMO variant loads DeFMO-layout weights and matches kornia.feature.DeFMO sub-frame for sub-frame."""

from __future__ import annotations

import pytest
from model_helpers import randomize_bn
import torch
from torch import nn

from defmo.errors import UserError
from defmo.models import load_original, subframe_times

kornia_defmo = pytest.importorskip("kornia.feature.defmo")
torch.set_num_threads(1)  # 2 shared cores: more threads only spin-wait




def test_original_matches_kornia(tmp_path):
    torch.manual_seed(0)
    ref = kornia_defmo.DeFMO(pretrained=False)
    randomize_bn(ref, 1)
    ref.eval()
    torch.save(ref.encoder.state_dict(), tmp_path / "encoder_best.pt")
    torch.save(ref.rendering.state_dict(), tmp_path / "rendering_best.pt")
    ours = load_original(tmp_path)
    assert not ours.training and ours.latent_channels == 2048
    x = torch.rand(1, 6, 32, 48)
    with torch.no_grad():
        expected = ref(x)
        latent = ours.encode(x)
        got = ours.render(latent, subframe_times(24))
        loop = ours.render_loop(latent, subframe_times(24))
    assert got.shape == expected.shape == (1, 24, 4, 32, 48)
    torch.testing.assert_close(got, expected, atol=5e-5, rtol=1e-4)
    torch.testing.assert_close(loop, expected, atol=1e-6, rtol=1e-5)


def test_original_missing_files(tmp_path):
    with pytest.raises(UserError, match="encoder_best.pt, rendering_best.pt"):
        load_original(tmp_path)
    torch.save({"bogus": torch.zeros(1)}, tmp_path / "encoder_best.pt")
    torch.save({"bogus": torch.zeros(1)}, tmp_path / "rendering_best.pt")
    with pytest.raises(UserError, match="not DeFMO's published"):
        load_original(tmp_path)
