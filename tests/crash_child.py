"""The process ``tests/test_crash.py`` kills: one tiny run of a chapter's smoke record
through ``run_experiment``, every step checkpointed, ending with its results file.

``python -m tests.crash_child SLUG OUT_DIR STEPS [DIE_AT_WRITE]``: with
``DIE_AT_WRITE = k``, the process kills itself (SIGKILL) half way through its k-th
file write (a checkpoint or the results file), leaving that write's temporary file
half written, as a machine that dies mid-write would.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

import torch

from vidlib import results
from vidlib.experiment import run_experiment
from vidlib.record import Record, profile_record


def crash_record(slug: str, steps: int) -> Record:
    """The smoke record of ``slug``, ``steps`` steps, a checkpoint every step, an
    EMA (its state must survive too) and a cheap evaluation."""
    overrides: dict[str, Any] = {
        "train.steps": steps,
        "train.checkpoint_every": 1,
        "train.keep_checkpoints": 2,
        "train.sample_every": 0,
        "train.progress": False,
        "train.num_threads": 1,
        "eval.metrics": ["mfd"],
        "eval.num": 4,
    }
    record = profile_record(slug, "smoke")
    if "ema_decay" in record.model:
        overrides["model.ema_decay"] = 0.9
    if slug == "avlae":
        overrides["model.motion_encoder"] = False  # no flow estimator to train
        overrides["model.k1"] = 0.0  # nothing of E_M's to reconstruct (Table 3)
    return record.replace(overrides, "crash test")


def die_at_write(k: int) -> None:
    """Make the k-th checkpoint or JSON write die half way (SIGKILL)."""
    count = {"writes": 0}
    real_save, real_dump = torch.save, results.json.dump

    def dying(target: Any) -> None:
        count["writes"] += 1
        if count["writes"] == k:
            path = Path(target)
            size = path.stat().st_size
            with path.open("r+b") as handle:
                handle.truncate(size // 2)
            os.kill(os.getpid(), signal.SIGKILL)

    def save(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
        real_save(obj, f, *args, **kwargs)
        dying(f)

    def dump(obj: Any, handle: Any, *args: Any, **kwargs: Any) -> None:
        real_dump(obj, handle, *args, **kwargs)
        handle.flush()
        dying(os.readlink(f"/proc/self/fd/{handle.fileno()}"))

    torch.save = save
    results.json.dump = dump


def main(argv: list[str]) -> None:
    slug, out_dir, steps, *rest = argv
    if rest:
        die_at_write(int(rest[0]))
    print("training", flush=True)
    run_experiment(crash_record(slug, int(steps)), out_dir, slug=slug, profile="crash")


if __name__ == "__main__":
    main(sys.argv[1:])
