"""The background-removal network: the shipped weights, saving and loading, the training composites and a few
training steps."""

from __future__ import annotations

import pytest
import torch

from pix2nerf.foreground.network import WEIGHTS_PATH, SegmentationConfig, SegmentationNet, load_network, save_network
from pix2nerf.foreground.training import TrainingSettings, mask_ious, segmentation_loss, train_segmentation
from pix2nerf.foreground.training_data import CompositeStream, load_photos

MAX_WEIGHTS_BYTES = 2**20


def test_the_shipped_weights_load_small_and_save_back_the_same():
    assert WEIGHTS_PATH.stat().st_size <= MAX_WEIGHTS_BYTES
    net = load_network()
    assert isinstance(net, SegmentationNet) and not net.training
    rgb = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        logits = net(rgb)
    assert logits.shape == (1, 1, 64, 96) and torch.isfinite(logits).all()


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    net = SegmentationNet(SegmentationConfig(channels=(4, 8), input_size=32)).eval()
    path = tmp_path / "net.safetensors"
    save_network(net, path, dtype=torch.float32)
    loaded = load_network(path)
    assert loaded.config == net.config
    rgb = torch.rand(2, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(loaded(rgb), net(rgb))


def test_the_benchmark_backgrounds_are_never_trained_on():
    with pytest.raises(ValueError, match="never trained on"):
        load_photos(("moon", "astronaut"))
    with pytest.raises(ValueError, match="never trained on"):
        load_photos(("cat",))  # the benchmarks' chelsea


def test_composite_stream_is_deterministic_with_masks_in_range():
    objects = {"cars": torch.rand(3, 4, 24, 24), "chairs": torch.rand(2, 4, 24, 24)}
    photos = load_photos(("moon", "coins"))
    first = CompositeStream(objects, photos, 32, seed=3).batch(6)
    second = CompositeStream(objects, photos, 32, seed=3).batch(6)
    for a, b in zip(first, second):
        assert torch.equal(a, b)
    images, alpha = first
    assert images.shape == (6, 3, 32, 32) and alpha.shape == (6, 1, 32, 32)
    assert 0 <= images.min() and images.max() <= 1 and 0 <= alpha.min() and alpha.max() <= 1
    assert (alpha.sum((1, 2, 3)) > 0).all()  # every composite holds an object


def test_loss_and_iou_of_a_perfect_prediction():
    alpha = torch.zeros(1, 1, 8, 8)
    alpha[..., 2:6, 2:6] = 1
    perfect = (alpha * 2 - 1) * 30
    assert segmentation_loss(perfect, alpha) < 1e-3 < segmentation_loss(-perfect, alpha)
    assert mask_ious(perfect, alpha).item() == 1 and mask_ious(-perfect, alpha).item() == 0


def test_a_few_training_steps_run_log_and_repeat_exactly():
    settings = TrainingSettings(steps=2, batch_size=2, cars=2, chairs=1, validation=4)
    config = SegmentationConfig(channels=(4, 8), input_size=32)
    net, history = train_segmentation(settings, config, log=lambda entry: None)
    assert not net.training and [entry["step"] for entry in history] == [2]
    assert {"loss", "validation_iou_median", "validation_iou_mean", "seconds"} <= history[0].keys()
    again, _ = train_segmentation(settings, config, log=lambda entry: None)
    for name, tensor in net.state_dict().items():
        assert torch.equal(tensor, again.state_dict()[name]), name
