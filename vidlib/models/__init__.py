"""One module per paper: networks, losses and the update rule (``Method``).

:func:`load_trained` rebuilds the Method of a finished notebook run (its recorded
model config and last checkpoint), so one chapter can score another chapter's model.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# model name recorded in results.json params["model"]["model"] -> module, class, config
METHODS: dict[str, tuple[str, str, str]] = {
    "mocogan": ("vidlib.models.mocogan", "MoCoGAN", "MoCoGANConfig"),
    "g3an": ("vidlib.models.g3an", "G3AN", "G3ANConfig"),
    "navs": ("vidlib.models.navs", "NAVS", "NAVSConfig"),
}
# Shapes settings that must agree for two runs to have seen the same data
SAME_DATA_KEYS: tuple[str, ...] = (
    "resolution",
    "frames",
    "shapes",
    "colors",
    "backgrounds",
    "actions",
    "size_range",
    "speed_range",
    "seed",
    "split",
)


def build(model: Mapping[str, Any]) -> Any:
    """The Method for a recorded config ``{"model": name, **config fields}``."""
    name = model.get("model")
    if name not in METHODS:
        raise ValueError(f"unknown model {name!r}: expected one of {sorted(METHODS)}")
    module, method, config = METHODS[name]
    loaded = importlib.import_module(module)
    fields = {k: v for k, v in model.items() if k != "model"}
    return getattr(loaded, method)(getattr(loaded, config)(**fields))


def load_trained(
    run_dir: str | Path,
    data: Mapping[str, Any],
    keys: Sequence[str] = SAME_DATA_KEYS,
) -> tuple[Any, int]:
    """The Method of the run in ``run_dir`` at its last checkpoint, and that step.

    ``data`` is the data config of the caller; the run must have recorded the same
    values for ``keys`` in its ``params["data"]``. Raises ``ValueError`` naming the
    folder when there is no ``results.json``, the data differ or no checkpoint exists.
    """
    from vidlib import checkpoint as ckpt  # torch only when a run is loaded

    run_dir = Path(run_dir)
    results = run_dir / "results.json"
    if not results.is_file():
        raise ValueError(f"{results} not found: run that notebook first")
    params = json.loads(results.read_text())["params"]
    theirs = {k: params["data"].get(k) for k in keys}
    ours = {k: data.get(k) for k in keys}
    if theirs != ours:
        differ = {k: (theirs[k], ours[k]) for k in keys if theirs[k] != ours[k]}
        raise ValueError(f"{run_dir} used other data (theirs, ours): {differ}")
    saved = ckpt.list_checkpoints(run_dir / "checkpoints")
    if not saved:
        raise ValueError(f"{run_dir / 'checkpoints'} holds no checkpoint")
    step, path = saved[-1]
    method = build(params["model"])
    payload = ckpt.load_checkpoint(path)
    for name, net in method.nets.items():
        net.load_state_dict(payload["nets"][name])
    return method, step
