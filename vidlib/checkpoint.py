"""Checkpoints: plain dicts of state_dicts, loadable with ``weights_only=True``.

A checkpoint holds ``nets`` and ``opts`` (state_dicts), ``config`` (primitives only),
``config_hash``, ``step``, ``rng`` (CPU/CUDA/numpy/python generator states as tensors
and primitives), ``metrics`` and ``versions``. Writes are atomic (temp file, then
``os.replace``) so an interrupted save never leaves a truncated file behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_PATTERN = re.compile(r"^step-(\d{8})\.pt$")


class CheckpointError(ValueError):
    """A checkpoint or weights file that cannot be used: corrupt, not tensors only,
    or written by another config."""


def load_weights(
    path: Path,
    expected: str,
    fix: str = "",
    map_location: str | torch.device = "cpu",
) -> Any:
    """``torch.load(path, weights_only=True)``: tensors and plain containers only, so
    a pickle that would run code is refused, never executed.

    A file that does not load raises :class:`CheckpointError` naming ``path``, what
    was ``expected`` there and, when given, how to ``fix`` it."""
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several types for a damaged file
        fix = f"; {fix}" if fix else ""
        raise CheckpointError(
            f"{path} cannot be read as {expected} ({_why(error)}){fix}"
        ) from error


def check_same_keys(
    kind: str, saved: Mapping[str, Any], current: Mapping[str, Any], path: Path
) -> None:
    """The ``kind`` ("nets" or "opts") of checkpoint ``path`` name what the Method
    has; else CheckpointError: it was written by another model."""
    if set(saved) != set(current):
        raise CheckpointError(
            f"checkpoint {path} has {kind} {sorted(saved)}, but the method has "
            f"{sorted(current)}; it was written by a different model"
        )


def load_state(
    net: torch.nn.Module,
    state: Mapping[str, Any],
    path: Path,
    name: str,
    written_by: str | None = None,
) -> None:
    """``net.load_state_dict(state)``, ``state`` being net ``name`` of the file
    ``path``: weights of another architecture (missing, extra or wrong-shaped keys)
    raise :class:`CheckpointError` naming the file, the net, the first mismatch and,
    when given, the vidlib version that wrote the file."""
    try:
        net.load_state_dict(state)
    except RuntimeError as error:
        from vidlib import __version__

        reason = str(error).strip().splitlines()[-1].strip()  # torch: "size mismatch.."
        version = f" (written by vidlib {written_by}; this is {__version__})"
        raise CheckpointError(
            f"{path} does not fit the net {name!r}{version if written_by else ''}: "
            f"{reason}; expected weights of this model and config"
        ) from error


def _why(error: Exception) -> str:
    """Why ``torch.load`` failed, in one line (its own message is a page long)."""
    text = str(error)
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if found:
        return (
            f"it pickles the Python object {found.group(1)}, not only tensors; vidlib "
            "loads with weights_only=True and runs no code from a file"
        )
    first = text.strip().splitlines()[0] if text.strip() else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def config_hash(config: dict[str, Any]) -> str:
    """Short SHA-256 of a JSON-serialisable config (key order does not matter)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def checkpoint_path(directory: Path, step: int) -> Path:
    return directory / f"step-{step:08d}.pt"


def list_checkpoints(directory: Path) -> list[tuple[int, Path]]:
    """Checkpoints in ``directory`` as ``(step, path)``, oldest first."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = CHECKPOINT_PATTERN.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def rng_state() -> dict[str, Any]:
    """Every global RNG state the training loop depends on."""
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": _numpy_state_to_primitives(np.random.get_state()),  # noqa: NPY002
        "python": _python_state_to_primitives(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states saved by :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(_numpy_state_from_primitives(state["numpy"]))  # noqa: NPY002
    random.setstate(_python_state_from_primitives(state["python"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextmanager
def kept_random_state() -> Iterator[None]:
    """Run the block, then put every global RNG state back as it was (a cache that
    loads or trains must not change what the caller draws next)."""
    state = rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically: a write that fails (a full disk)
    leaves no partial file and every earlier checkpoint as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    try:
        torch.save(payload, tmp_name)
        os.replace(tmp_name, path)
    except BaseException as error:
        Path(tmp_name).unlink(missing_ok=True)
        if isinstance(error, OSError | RuntimeError):  # torch wraps write errors
            reason = getattr(error, "strerror", None) or error  # not the temp name
            raise CheckpointError(
                f"cannot write checkpoint {path} ({reason}); nothing partial was "
                "left and the earlier checkpoints are untouched: if the disk is full "
                "(torch reports that as 'unexpected pos'), free space and rerun to "
                "resume from the last one"
            ) from error
        raise


def remove_unfinished(directory: Path) -> None:
    """Delete what killed :func:`save_checkpoint` calls left in ``directory``: their
    temporary files, which nothing reads (a checkpoint exists once renamed)."""
    for path in Path(directory).glob(".step-*.pt.*"):
        path.unlink(missing_ok=True)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict:
    """A training checkpoint (:func:`load_weights`); a damaged file raises
    ``CheckpointError``."""
    payload = load_weights(
        path,
        "a checkpoint written by vidlib.checkpoint.save_checkpoint",
        "move it away to restart from the previous checkpoint",
        map_location,
    )
    missing = {"nets", "opts", "config", "config_hash", "step"} - set(payload)
    if missing:
        raise CheckpointError(
            f"checkpoint {path} lacks the keys {sorted(missing)}; "
            "expected a vidlib training checkpoint"
        )
    return payload


def _numpy_state_to_primitives(state: tuple) -> list:
    name, keys, pos, has_gauss, cached = state
    return [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached]


def _numpy_state_from_primitives(state: list) -> tuple:
    name, keys, pos, has_gauss, cached = state
    return (name, keys.numpy().astype(np.uint32), pos, has_gauss, cached)


def _python_state_to_primitives(state: tuple) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _python_state_from_primitives(state: list) -> tuple:
    version, internal, gauss = state
    return (version, tuple(internal), gauss)
