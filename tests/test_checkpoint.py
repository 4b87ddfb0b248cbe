"""Every file vidlib reads with torch goes through ``checkpoint.load_weights``
(``weights_only=True``): a pickle that would run code is refused with a sentence
naming the file, and its code never runs."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from vidlib import checkpoint as ckpt
from vidlib import judging, shapes_flow
from vidlib.committed import _read_weights
from vidlib.flow.raft import load_raft
from vidlib.metrics.extractors import load_extractor


class Planted:
    """Unpickling this creates ``marker``: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


LOADERS: dict[str, Callable[[Path], object]] = {
    "training checkpoint": ckpt.load_checkpoint,
    "committed reference weights": lambda path: _read_weights(path, "mocogan"),
    "extractor weights": lambda path: load_extractor("i3d", path),
    "RAFT weights": lambda path: load_raft(path, "small"),
    "judges cache": lambda path: judging._read(path, None, None, "key"),
    "flow estimator cache": lambda path: shapes_flow._read(path, None, "key"),
}


@pytest.mark.parametrize("loader", LOADERS.values(), ids=LOADERS.keys())
def test_a_pickle_that_runs_code_is_refused_not_run(
    tmp_path: Path, loader: Callable[[Path], object]
) -> None:
    marker, path = tmp_path / "ran", tmp_path / "weights.pt"
    torch.save({"nets": {"G": Planted(marker)}, "config_hash": "key"}, path)
    with pytest.raises(ckpt.CheckpointError) as refused:
        loader(path)
    assert not marker.exists()
    message = str(refused.value)
    assert str(path) in message
    assert "pickles the Python object" in message
    assert "runs no code from a file" in message


def test_a_planted_judges_cache_is_named_and_retrained_not_run(tmp_path: Path) -> None:
    """The cache readers treat a refused file as damage: a warning naming it, then
    the caller retrains (``read_cached`` returns None)."""
    marker, path = tmp_path / "ran", tmp_path / "judges.pt"
    torch.save({"nets": Planted(marker)}, path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read = judging.read_cached(path, "judges", LOADERS["judges cache"])
    assert read is None
    assert not marker.exists()
    assert any(str(path) in str(w.message) for w in caught)


def test_nothing_else_in_vidlib_or_the_chapters_calls_torch_load() -> None:
    """So no reader can bypass :func:`vidlib.checkpoint.load_weights` (prose that
    names `torch.load(...)` in backticks is not a call)."""
    root = Path(__file__).parents[1]
    callers = [
        str(path.relative_to(root))
        for pattern in ("vidlib/**/*.py", "notebooks/*.md")
        for path in root.glob(pattern)
        if re.search(r"(?<!`)torch\.load\(", path.read_text())
    ]
    assert callers == ["vidlib/checkpoint.py"]
