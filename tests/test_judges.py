"""Judges: test accuracy at smoke size, the cache (reuse, keying, damage), labels."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import torch

from vidlib import judging
from vidlib.data.shapes import (
    ACTIONS,
    COLORS,
    SHAPES,
    ShapesConfig,
    ShapesVideos,
    label_names,
)
from vidlib.judging import load_judges
from vidlib.metrics import judges as judges_module
from vidlib.metrics.judges import Judges
from vidlib.train import read_scalars

# The mocogan notebook's smoke data: 16×16×6, 2 shapes × 3 colours × 1 background ×
# 4 actions. 200 steps train in ~25 s on one busy CPU core.
SMOKE = ShapesConfig(
    resolution=16,
    frames=6,
    shapes=("circle", "square"),
    colors=("red", "green", "blue"),
    backgrounds=("black",),
    actions=("right", "left", "up", "down"),
)
SMOKE_STEPS = 200
SMOKE_ACCURACY = 0.9  # stated threshold: every judged label, test split


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "judges-cache"


@pytest.fixture(scope="session")
def smoke_judges(cache_dir: Path) -> Judges:
    return load_judges(SMOKE, cache_dir=cache_dir, steps=SMOKE_STEPS, progress=False)


def test_judges_reach_the_stated_test_accuracy_at_smoke_size(
    smoke_judges: Judges,
) -> None:
    assert smoke_judges.factors == ("shape", "color")  # one background: not judged
    assert set(smoke_judges.accuracy) == {"action", "shape", "color"}
    for key, accuracy in smoke_judges.accuracy.items():
        assert accuracy >= SMOKE_ACCURACY, (key, accuracy)


def test_predictions_are_global_labels_of_unseen_clips(smoke_judges: Judges) -> None:
    """Fresh test-split clips (another seed): predictions equal the item labels."""
    data = ShapesVideos(SMOKE, size=64, seed=7, split="test")
    batch = torch.utils.data.default_collate([data[i] for i in range(64)])
    predicted = smoke_judges.predict(batch["video"])
    assert set(predicted) == {"action", "shape", "color"}
    for key, labels in predicted.items():
        assert (labels == batch[key]).double().mean() >= SMOKE_ACCURACY, key
    logits = smoke_judges.action_logits(batch["video"])
    assert logits.shape == (64, len(ACTIONS))
    absent = [ACTIONS.index(a) for a in ("orbit", "pulse")]
    assert (logits[:, absent] == judges_module.NEGATIVE_LOGIT).all()
    appearance = smoke_judges.appearance_logits(batch["video"])
    assert appearance["shape"].shape == (64, len(SHAPES))
    assert appearance["color"].shape == (64, len(COLORS))
    features = smoke_judges.features(batch["video"])
    assert features.ndim == 2 and features.shape[0] == 64
    assert torch.isfinite(features).all()


def test_shares_count_the_predicted_values_of_the_config(smoke_judges: Judges) -> None:
    data = ShapesVideos(SMOKE, size=32, seed=7, split="test")
    videos = torch.stack([data[i]["video"] for i in range(32)])
    predicted = smoke_judges.predict(videos)
    shares = smoke_judges.shares(videos)
    assert list(shares["shape"]) == list(SMOKE.shapes)  # only the config's values
    assert list(shares["action"]) == list(SMOKE.actions)
    for key, values in shares.items():
        for value, share in values.items():
            label = label_names(key).index(value)
            assert share == (predicted[key] == label).sum().item() / 32, (key, value)


def test_frame_features_are_the_appearance_part_of_clip_features(
    smoke_judges: Judges,
) -> None:
    """A static clip: the frame average of the appearance features is the frame's."""
    frame = ShapesVideos(SMOKE, size=3, split="test")[2]["video"][:, 0]  # (3, H, W)
    static = frame[None, :, None].expand(1, 3, SMOKE.frames, 16, 16)
    per_frame = smoke_judges.frame_features(frame[None])
    clip = smoke_judges.features(static)
    assert per_frame.shape == (1, clip.shape[1] - smoke_judges.action.head.in_features)
    torch.testing.assert_close(clip[:, -per_frame.shape[1] :], per_frame)


def test_wrong_video_size_is_named(smoke_judges: Judges) -> None:
    with pytest.raises(ValueError, match=r"take videos \(B, 3, 6, 16, 16\)"):
        smoke_judges.predict(torch.zeros(2, 3, 8, 32, 32))


def test_cache_is_reused_and_keyed_by_config(
    smoke_judges: Judges, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real_train = judging.train_judges
    monkeypatch.setattr(
        judging,
        "train_judges",
        lambda *args, **kwargs: calls.append(args) or real_train(*args, **kwargs),
    )
    again = load_judges(SMOKE, cache_dir=cache_dir, steps=SMOKE_STEPS, progress=False)
    assert calls == []  # loaded, not trained
    assert again.accuracy == smoke_judges.accuracy
    assert again.protocol == smoke_judges.protocol
    video = ShapesVideos(SMOKE, size=4, split="test")[3]["video"][None]
    assert torch.equal(again.features(video), smoke_judges.features(video))
    folder = cache_dir / smoke_judges.key
    assert (folder / "judges.pt").is_file() and (folder / "accuracy.json").is_file()

    other = ShapesConfig(**{**SMOKE.as_dict(), "colors": ["red", "blue"]})
    trained = load_judges(other, cache_dir=cache_dir, steps=2, progress=False)
    assert len(calls) == 1  # a different config trains anew, in its own folder
    assert trained.key != smoke_judges.key
    assert (cache_dir / trained.key / "judges.pt").is_file()


def test_damaged_cache_file_is_named_and_retrained(tmp_path: Path) -> None:
    tiny = ShapesConfig(**{**SMOKE.as_dict(), "frames": 4, "shapes": ["circle"]})
    first = load_judges(tiny, cache_dir=tmp_path, steps=2, progress=False)
    path = tmp_path / first.key / "judges.pt"
    path.write_bytes(b"not a checkpoint")
    named = re.escape(f"judges cache {path} cannot be used")
    with pytest.warns(UserWarning, match=named):
        second = load_judges(tiny, cache_dir=tmp_path, steps=2, progress=False)
    assert second.accuracy == first.accuracy  # deterministic retraining
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_judges(tiny, cache_dir=tmp_path, steps=2, progress=False)
    messages = [str(w.message) for w in caught]
    assert not any("cannot be used" in m for m in messages)  # rewritten: loads
    assert any("below 0.9" in m for m in messages)  # 2 steps: weak judges, said so


def test_judges_train_through_fit_and_leave_the_global_rng_alone(
    tmp_path: Path,
) -> None:
    tiny = ShapesConfig(**{**SMOKE.as_dict(), "frames": 4})
    torch.manual_seed(123)
    expected = torch.rand(3)
    for _ in ("trained", "cached"):
        torch.manual_seed(123)
        with pytest.warns(UserWarning, match="below 0.9"):  # 3 steps: weak
            judges = load_judges(tiny, cache_dir=tmp_path, steps=3, progress=False)
        assert torch.equal(torch.rand(3), expected)
    log = read_scalars(tmp_path / judges.key / "train")  # fit's scalar log
    assert [row["step"] for row in log] == [3]
    assert set(log[0]) == {"step", "action", "shape", "color"}


def test_configs_without_motion_are_refused() -> None:
    with pytest.raises(ValueError, match="frames >= 2"):
        load_judges(ShapesConfig(frames=1), progress=False)
    with pytest.raises(ValueError, match="at least two actions"):
        load_judges(ShapesConfig(actions=("left",)), progress=False)
