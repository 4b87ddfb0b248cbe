"""Standard extractors: architecture keys/shapes with random weights, preprocessing,
loading, and the unavailable path."""

import numpy as np
import pytest
import torch
from PIL import Image

from vidlib.metrics.extractors import (
    ACTIVITYNET_MEAN,
    ExtractorUnavailable,
    InceptionI3d,
    ResNeXt3D,
    VGG16Relu33,
    _tf_bilinear_matrix,
    centre_clip,
    extract,
    i3d_temporal_window,
    load_extractor,
    preprocess_i3d,
    preprocess_resnext,
    preprocess_vgg16,
    vgg16_frame_features,
)


def test_i3d_keys_and_shapes_with_random_weights():
    torch.manual_seed(0)
    model = InceptionI3d().eval()
    state = model.state_dict()
    assert state["Conv3d_1a_7x7.conv3d.weight"].shape == (64, 3, 7, 7, 7)
    assert state["Mixed_4b.b1b.conv3d.weight"].shape == (208, 96, 3, 3, 3)
    assert state["Mixed_5c.b3b.bn.running_var"].shape == (128,)
    assert state["logits.conv3d.weight"].shape == (400, 1024, 1, 1, 1)
    assert state["logits.conv3d.bias"].shape == (400,)
    with torch.no_grad():
        out = model(torch.randn(1, 3, 16, 32, 32))
    assert out.shape == (1, 400) and torch.isfinite(out).all()


@pytest.mark.parametrize("frames", [1, 6, 8, 9, 12, 16, 17, 32])
def test_i3d_temporal_window_is_the_window_the_network_uses(frames):
    """I3D's last pool is 2 in time; on clips of T <= 8 frames only one time step is
    left before it, and the window the forward pass uses shrinks to 1 (meta device:
    shapes only)."""
    with torch.device("meta"):
        model = InceptionI3d().eval()
    steps = []
    model.Mixed_5c.register_forward_hook(lambda _m, _i, out: steps.append(out.shape))
    with torch.no_grad():
        out = model(torch.empty(1, 3, frames, 224, 224, device="meta"))
    assert out.shape == (1, 400) and steps[0][3:] == (7, 7)
    assert steps[0][2] == -(-frames // 8)  # ceil(T/8) steps reach the last pool
    assert i3d_temporal_window(frames) == min(2, steps[0][2])
    assert i3d_temporal_window(frames) == (1 if frames <= 8 else 2)


def test_resnext101_keys_and_shapes_with_random_weights():
    model = ResNeXt3D().eval()
    state = model.state_dict()
    assert state["conv1.weight"].shape == (64, 3, 7, 7, 7)
    assert state["layer1.0.downsample.0.weight"].shape == (256, 64, 1, 1, 1)
    assert state["layer3.22.conv2.weight"].shape == (512, 16, 3, 3, 3)  # 32 groups
    assert state["layer4.2.conv3.weight"].shape == (2048, 1024, 1, 1, 1)
    assert state["fc.weight"].shape == (400, 2048)
    assert len([k for k in state if k.endswith("conv1.weight")]) == 1 + 33  # 101 layers
    with torch.no_grad():
        out = model(torch.randn(1, 3, 16, 32, 32))
    assert out.shape == (1, 2048)


def test_vgg16_relu3_3_matches_torchvision_indices():
    model = VGG16Relu33()
    convs = {k: v.shape for k, v in model.state_dict().items() if k.endswith("weight")}
    assert list(convs) == [f"features.{i}.weight" for i in (0, 2, 5, 7, 10, 12, 14)]
    assert convs["features.14.weight"] == (256, 256, 3, 3)
    assert isinstance(model.features[15], torch.nn.ReLU) and len(model.features) == 16
    # conv parameters 3·3·c_in·c_out + c_out, by hand
    widths = [
        (3, 64),
        (64, 64),
        (64, 128),
        (128, 128),
        (128, 256),
        (256, 256),
        (256, 256),
    ]
    assert sum(p.numel() for p in model.parameters()) == sum(
        9 * a * b + b for a, b in widths
    )
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 256 * 8 * 8)


def test_tf_bilinear_resize_by_hand():
    # TF1 resize_bilinear, align_corners=False: output i samples input i * in/out
    weights = _tf_bilinear_matrix(2, 4)
    np.testing.assert_allclose(weights.numpy(), [[1, 0], [0.5, 0.5], [0, 1], [0, 1]])
    video = torch.tensor([-1.0, 1.0]).reshape(1, 1, 1, 1, 2).expand(1, 3, 2, 2, 2)
    out = preprocess_i3d(video, size=4)
    np.testing.assert_allclose(out[0, 0, 0, 0].numpy(), [-1, 0, 1, 1], atol=1e-6)
    assert preprocess_i3d(torch.zeros(1, 3, 2, 8, 8)).shape == (1, 3, 2, 224, 224)


def test_resnext_preprocessing_matches_pil_and_activitynet_mean():
    gen = torch.Generator().manual_seed(1)
    videos = torch.rand(1, 3, 20, 64, 64, generator=gen) * 2 - 1
    out = preprocess_resnext(videos)
    assert out.shape == (1, 3, 16, 112, 112)
    clip = centre_clip(videos)
    assert torch.equal(clip, videos[:, :, 2:18])  # start = 20 // 2 - 8
    frame = ((clip[0, :, 0].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
    pil = np.asarray(Image.fromarray(frame).resize((112, 112), Image.BILINEAR), float)
    ours = out[0, :, 0].permute(1, 2, 0).numpy() + np.array(ACTIVITYNET_MEAN)
    assert np.abs(ours - pil).max() <= 1.0 + 1e-4  # within one uint8 level of PIL
    with pytest.raises(ValueError, match="at least 16 frames"):
        preprocess_resnext(videos[:, :, :8])


def test_vgg16_preprocessing_is_imagenet_normalisation():
    frames = torch.tensor([-1.0, 1.0]).reshape(1, 1, 1, 2).expand(1, 3, 1, 2)
    out = preprocess_vgg16(frames)
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(out[0, :, 0, 0].numpy(), -mean / std, rtol=1e-6)
    np.testing.assert_allclose(out[0, :, 0, 1].numpy(), (1 - mean) / std, rtol=1e-6)


def test_load_round_trip_with_module_prefix_and_extra_vgg_keys(tmp_path):
    model = VGG16Relu33()
    state = {k: v + 1 for k, v in model.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(2, 2)  # the full torchvision file
    state["features.17.weight"] = torch.zeros(2)
    torch.save(state, tmp_path / "vgg.pth")
    loaded = load_extractor("vgg16", tmp_path / "vgg.pth")
    assert torch.equal(loaded.features[0].weight, state["features.0.weight"])
    phi = vgg16_frame_features(loaded)
    assert phi(torch.zeros(3, 3, 8, 8)).shape == (3, 256 * 2 * 2)
    videos = torch.zeros(2, 3, 4, 8, 8)
    assert extract("vgg16", loaded, videos).shape == (8, 1024)

    i3d = InceptionI3d()
    hara = {"state_dict": {f"module.{k}": v for k, v in i3d.state_dict().items()}}
    torch.save(hara, tmp_path / "i3d.pth")
    assert isinstance(load_extractor("i3d", tmp_path / "i3d.pth"), InceptionI3d)


def test_bad_weights_file_names_file_and_keys(tmp_path):
    state = VGG16Relu33().state_dict()
    del state["features.14.bias"]
    state["features.3.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "wrong.pth")
    with pytest.raises(
        ValueError, match=r"wrong\.pth.*features\.14\.bias.*features\.3\.weight"
    ):
        load_extractor("vgg16", tmp_path / "wrong.pth")
    state = VGG16Relu33().state_dict()
    state["features.0.bias"] = torch.zeros(3)
    torch.save(state, tmp_path / "shape.pth")
    with pytest.raises(
        ValueError, match=r"(?s)shape\.pth does not fit.*features\.0\.bias"
    ):
        load_extractor("vgg16", tmp_path / "shape.pth")
    with pytest.raises(ValueError, match="unknown extractor"):
        load_extractor("inception", tmp_path / "wrong.pth")


def test_unavailable_without_file(tmp_path):
    with pytest.raises(ExtractorUnavailable, match="no weights file.*rgb_imagenet"):
        load_extractor("i3d", None)
    with pytest.raises(ExtractorUnavailable, match="not found"):
        load_extractor("resnext101", tmp_path / "missing.pth")
