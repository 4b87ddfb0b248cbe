"""The residual-vectors paper's image IS with a frame classifier of D_I's
architecture (``vidlib.metrics.frame_is``, ``vidlib.frame_classifier``)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vidlib import experiment
from vidlib.data.shapes import ShapesConfig, ShapesVideos
from vidlib.frame_classifier import (
    FrameClassifierTraining,
    load_frame_classifier,
    random_frames,
)
from vidlib.method import eval_mode
from vidlib.metrics.frame_is import (
    FrameClassifier,
    FrameClassifierNet,
    frame_classes,
    frame_labels,
    is_frame_classifier,
)
from vidlib.models.mocogan import MoCoGAN, MoCoGANConfig
from vidlib.models.residual import RJGAN, ImageGAN, ImageGANConfig, RJGANConfig
from vidlib.nn import PatchImageDiscriminator

# 32×32 (at 16×16, circle and square are 4-6 pixels wide and D_I's first stride-2
# conv learnt them only slowly), 2 shapes × 3 colours = 6 frame classes.
CONFIG = ShapesConfig(
    resolution=32,
    frames=4,
    shapes=("circle", "square"),
    colors=("red", "green", "blue"),
    backgrounds=("black",),
    actions=("right", "left"),
)
TINY = FrameClassifierTraining(steps=300, batch_size=64, ndf=16, test_size=512)
ACCURACY = 0.9  # stated threshold on the test split


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("frame-classifier")


@pytest.fixture(scope="module")
def classifier(cache: Path) -> FrameClassifier:
    return load_frame_classifier(CONFIG, cache_dir=cache, training=TINY, progress=False)


@pytest.fixture(scope="module")
def real_frames() -> torch.Tensor:
    data = ShapesVideos(CONFIG, size=1280, seed=3, split="test")
    videos = torch.stack([data[i]["video"] for i in range(len(data))])
    return random_frames(videos, torch.Generator().manual_seed(0))


def test_the_classifier_is_d_i_with_a_class_per_output_channel() -> None:
    net = FrameClassifierNet(6, ndf=8)
    d_i = PatchImageDiscriminator(3, 8).state_dict()
    ours = net.d_i.state_dict()
    assert list(ours) == list(d_i)
    *trunk, head = d_i
    assert all(ours[k].shape == d_i[k].shape for k in trunk)
    assert ours[head].shape == (6, *d_i[head].shape[1:])
    assert net(torch.zeros(5, 3, 32, 32)).shape == (5, 6)


def test_frame_classes_are_the_joint_varying_factors() -> None:
    classes = frame_classes(CONFIG)
    assert classes[:2] == [("circle", "red"), ("circle", "green")] and len(classes) == 6
    data = ShapesVideos(CONFIG, size=40, seed=1)
    items = [data[i] for i in range(40)]
    labels = {k: torch.tensor([it[k] for it in items]) for k in ("shape", "color")}
    for item, joint in zip(items, frame_labels(labels, CONFIG), strict=True):
        assert classes[joint] == (
            ("circle", "square")[item["shape"]],  # SHAPES' first two
            ("red", "green", "blue")[item["color"]],  # COLORS' first three
        )


def test_the_classifier_reaches_the_stated_test_accuracy(
    classifier: FrameClassifier,
) -> None:
    assert classifier.accuracy["frame"] >= ACCURACY, classifier.accuracy


def test_training_is_deterministic_and_cached(
    classifier: FrameClassifier, cache: Path, tmp_path: Path
) -> None:
    again = load_frame_classifier(CONFIG, cache_dir=cache, training=TINY)
    assert not again.net.training and again.key == classifier.key
    short = FrameClassifierTraining(steps=20, batch_size=8, ndf=4, test_size=16)
    one, two = (
        torch.manual_seed(global_seed)  # the seed decides, not the global state
        and load_frame_classifier(CONFIG, cache_dir=tmp_path / d, training=short)
        for d, global_seed in (("one", 5), ("two", 6))
    )
    weights = one.net.state_dict(), two.net.state_dict()
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])
    other = load_frame_classifier(CONFIG, cache_dir=tmp_path / "one", seed=1,
                                  training=short)  # fmt: skip
    assert other.key != one.key


def test_real_frames_score_high_and_a_constant_image_scores_one(
    classifier: FrameClassifier, real_frames: torch.Tensor
) -> None:
    real = is_frame_classifier(real_frames, classifier)
    assert real["batches"] == 10 and real["batch_size"] == 128
    assert 0.8 * 6 <= real["mean"] <= 6 and real["std"] < 0.5
    assert "not the Inception network" in real["protocol"]
    constant = is_frame_classifier(torch.zeros_like(real_frames), classifier)
    assert constant["mean"] == pytest.approx(1.0, abs=1e-9)
    assert constant["std"] == pytest.approx(0.0, abs=1e-9)


def test_the_score_is_the_hand_computed_mean_over_ten_batches(
    classifier: FrameClassifier, real_frames: torch.Tensor
) -> None:
    """numpy by hand from the classifier's softmax: per batch of 128,
    exp(mean_x sum_y p(y|x) (log p(y|x) - log p(y))), then mean and std."""
    images = torch.cat([real_frames, -real_frames[:100]])  # only the first 1280 count
    logits = classifier.net(real_frames).double().numpy()
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    scores = []
    for batch in probs.reshape(10, 128, -1):
        marginal = batch.mean(0)
        kl = (batch * (np.log(batch + 1e-12) - np.log(marginal + 1e-12))).sum(1)
        scores.append(np.exp(kl.mean()))
    entry = is_frame_classifier(images, classifier)
    assert entry["mean"] == pytest.approx(np.mean(scores), rel=1e-9)
    assert entry["std"] == pytest.approx(np.std(scores), rel=1e-6)


def test_bad_inputs_are_refused_with_what_was_expected(
    classifier: FrameClassifier, real_frames: torch.Tensor
) -> None:
    with pytest.raises(ValueError, match=r"takes 10 batches of 128 = 1280 images"):
        is_frame_classifier(real_frames[:1000], classifier)
    with pytest.raises(ValueError, match=r"takes images \(N, 3, 32, 32\)"):
        is_frame_classifier(torch.zeros(1280, 3, 16, 16), classifier)
    with pytest.raises(ValueError, match="resolution >= 16"):
        load_frame_classifier(ShapesConfig(resolution=8, frames=2))
    with pytest.raises(ValueError, match="at least two frame classes"):
        one = ShapesConfig(shapes=("circle",), colors=("red",), backgrounds=("black",))
        load_frame_classifier(one)


def test_a_runs_frame_is_scores_its_prior_images_with_its_records_classifier(
    classifier: FrameClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``vidlib.experiment.frame_is_entry``: 10 × 128 ``prior_images`` drawn with seed
    + FRAME_IS_SEED, by the classifier of the record's data, seed and ``model.ndf``;
    RJGAN and the image baseline draw the same μ; a Method without a fixed prior, or
    data without Shapes' labels, gets the reason instead."""
    asked = []

    def load(config, *, seed, training, progress):
        asked.append((config, seed, training.ndf, training.steps))
        return classifier

    monkeypatch.setattr(experiment, "load_frame_classifier", load)
    sizes = dict(
        frames=4, resolution=32, ngf=4, ndf=4, dim_z=6, video_temporal_padding=1
    )
    record = SimpleNamespace(
        data=SimpleNamespace(dataset="shapes", shapes_config=CONFIG),
        model={"ndf": 4},
    )
    rjgan = RJGAN(RJGANConfig(**sizes, dim_eps=2))
    with eval_mode(rjgan):
        entry = experiment.frame_is_entry(rjgan, record, 7)
        gen = torch.Generator().manual_seed(7 + experiment.FRAME_IS_SEED)
        mu = rjgan.codes(1280, gen)["mu"]
        expected = is_frame_classifier(rjgan.summary_frames(mu), classifier)
    assert asked == [(CONFIG, 7, 4, FrameClassifierTraining().steps)]
    assert entry["value"] == expected["value"] and entry["std"] == expected["std"]
    assert entry["classifier_accuracy"] == classifier.accuracy["frame"]
    baseline = ImageGAN(ImageGANConfig(**sizes))
    same = baseline.codes(4, torch.Generator().manual_seed(3))["mu"]
    assert torch.equal(same, rjgan.codes(4, torch.Generator().manual_seed(3))["mu"])
    images = baseline.prior_images(4, torch.Generator().manual_seed(3))
    assert images.shape == (4, 3, 32, 32)
    mocogan = MoCoGAN(MoCoGANConfig(frames=4, resolution=32, video_temporal_padding=1))
    no_prior = experiment.frame_is_entry(mocogan, record, 0)
    assert no_prior["value"] is None and no_prior["protocol"]  # a results entry
    assert "no images from a fixed prior" in no_prior["unavailable"]
    record.data.dataset = "ucf101"
    assert (
        "Shapes' frame labels"
        in experiment.frame_is_entry(rjgan, record, 0)["unavailable"]
    )
