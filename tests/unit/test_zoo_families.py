"""The ImageNet families: the published parameter counts, seeded weights and BatchNorm statistics."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgeconv.zoo.families import FAMILIES, family_model, structured_images
from edgeconv.zoo.nets.regnet import regnet_stages

# Parameter counts of the published 1000-class models (the same architectures as torchvision's
# model table lists them), which pin every layer's shape.
PUBLISHED_PARAMETERS = {
    "mobilenetv2": 3_504_872,
    "mobilenetv3_small": 2_542_856,
    "efficientnet_b0": 5_288_548,
    "mnasnet": 4_383_312,
    "regnetx_400mf": 5_495_976,
    "resnet18": 11_689_512,
    "squeezenet1_1": 1_235_496,
    "shufflenetv2": 2_278_604,
}

SMALL = (1, 3, 64, 64)


def test_regnetx_400mf_stages_follow_the_paper():
    assert regnet_stages(depth=22, w0=24, wa=24.48, wm=2.54, group_width=16) == [
        (32, 1, 16), (64, 2, 16), (160, 7, 16), (400, 12, 16)]


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_family_has_the_published_parameter_count_and_maps_images_to_classes(name):
    model = FAMILIES[name]().eval()
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED_PARAMETERS[name]
    with torch.no_grad():
        assert model(torch.zeros(2, *SMALL[1:])).shape == (2, 1000)


@pytest.mark.parametrize("name", ["mobilenetv3_small", "shufflenetv2"])
def test_family_model_is_seeded_and_carries_data_statistics(name):
    first = family_model(name, seed=1, input_shape=SMALL, batches=1, batch_size=4)
    second = family_model(name, seed=1, input_shape=SMALL, batches=1, batch_size=4)
    other = family_model(name, seed=2, input_shape=SMALL, batches=1, batch_size=4)
    assert not first.training
    x = torch.from_numpy(structured_images(2, SMALL, seed=9))
    with torch.no_grad():
        out = first(x)
        torch.testing.assert_close(second(x), out, rtol=0, atol=0)
        assert not torch.equal(other(x), out)
    assert out.shape == (2, 1000) and torch.isfinite(out).all()
    norms = [m for m in first.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(int(m.num_batches_tracked) == 1 for m in norms)
    assert not any(torch.equal(m.running_var, torch.ones_like(m.running_var)) for m in norms)


def test_structured_images_are_seeded_and_normalised():
    images = structured_images(16, SMALL, seed=3)
    assert images.shape == (16, 3, 64, 64) and images.dtype == np.float32
    np.testing.assert_array_equal(images, structured_images(16, SMALL, seed=3))
    assert abs(float(images.mean())) < 0.2 and 0.5 < float(images.std()) < 1.5


def test_unknown_family_is_named():
    with pytest.raises(ValueError, match="unknown family 'vgg'"):
        family_model("vgg")
