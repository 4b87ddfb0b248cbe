"""Crash safety: a run killed (SIGKILL) at random moments, half way through a
checkpoint write or its results write included, and restarted each time, ends with
the weights, optimiser states, scalar log and metrics of an uninterrupted run, bit
for bit, and no restart ever reads a partial file.

The suite kills one MoCoGAN run twice (``make test``); ``make crash-test`` kills a run
of every model family 20 times (``-m crash``), about 20 minutes on two cores.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.test_train import assert_same_tree
from vidlib import checkpoint as ckpt
from vidlib.results import read_results

ROOT = Path(__file__).parents[1]
FAMILIES = ("mocogan", "g3an", "navs", "tgan", "vgan", "avlae")
STEPS = 10
TIMEOUT_S = 300


@dataclass(frozen=True)
class Kill:
    """``after`` seconds into training, or half way through write number ``write``
    (1-based, counted in the restarted process)."""

    after: float | None = None
    write: int | None = None


def start(slug: str, out: Path, write: int | None = None) -> subprocess.Popen:
    argv = [sys.executable, "-m", "tests.crash_child", slug, str(out), str(STEPS)]
    return subprocess.Popen(
        argv + ([str(write)] if write else []),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def wait(process: subprocess.Popen, what: str) -> int:
    """The exit code: 0 (finished) or -SIGKILL; anything else fails with stderr."""
    code = process.wait(timeout=TIMEOUT_S)
    stderr = process.stderr.read() if process.stderr else ""
    assert code in (0, -signal.SIGKILL), f"{what} exited {code}:\n{stderr}"
    return code


def run(slug: str, out: Path, kills: int, train_s: float) -> int:
    """Restart the run in ``out`` until ``kills`` processes were killed (a kill may
    come after a restart finished: that one is not counted), then once more to the
    end; the number of restarts."""
    rng, killed, restarts = random.Random(slug), 0, 0
    while killed < kills:
        assert restarts < 5 * kills, f"{slug}: only {killed} kills landed"
        kill = next_kill(rng, restarts, train_s)
        process = start(slug, out, kill.write)
        if kill.after is not None:
            assert process.stdout.readline() == "training\n"
            time.sleep(kill.after)
            process.send_signal(signal.SIGKILL)
        what = f"{slug} restart {restarts} ({kill})"
        killed += wait(process, what) == -signal.SIGKILL
        restarts += 1
    assert wait(start(slug, out), f"{slug} final restart") == 0
    return restarts


def outcome(out: Path) -> dict:
    """The last checkpoint, the scalar log and the metrics (times left out) of the
    run in ``out``; asserting no unfinished write is left."""
    results = read_results(out)
    train = out / results["artifacts"]["train_dir"]
    saved = ckpt.list_checkpoints(train / "checkpoints")
    assert saved[-1][0] == STEPS and len(saved) == 2
    leftovers = [p.name for p in train.rglob(".*")] + [p.name for p in out.glob(".*")]
    assert not leftovers, leftovers
    payload = ckpt.load_checkpoint(saved[-1][1])
    metrics = {k: v for k, v in results["metrics"].items() if "seconds" not in k}
    return {
        "nets": payload["nets"],
        "opts": payload["opts"],
        "rng": payload["rng"],
        "log": (train / "scalars.jsonl").read_text(),
        "metrics": metrics,
    }


def next_kill(rng: random.Random, index: int, train_s: float) -> Kill:
    """Alternately half way through one of the next two writes (checkpoints or the
    results file: a finished run's restart writes only its results) and at a random
    moment of the training time."""
    if index % 2:
        return Kill(after=rng.uniform(0, train_s))
    return Kill(write=rng.randint(1, 2))


def straight(slug: str, out: Path) -> float:
    """An uninterrupted run into ``out``; its training time (after imports)."""
    process = start(slug, out)
    assert process.stdout.readline() == "training\n"
    began = time.perf_counter()
    wait(process, f"{slug} uninterrupted")
    return time.perf_counter() - began


def check_family(slug: str, kills: int, tmp_path: Path) -> int:
    """Kill a run of ``slug`` ``kills`` times and compare it with an uninterrupted
    one; the number of restarts it took."""
    train_s = straight(slug, tmp_path / "straight")
    restarts = run(slug, tmp_path / "killed", kills, train_s)
    assert_same_tree(outcome(tmp_path / "killed"), outcome(tmp_path / "straight"))
    return restarts


def test_a_killed_and_restarted_run_ends_as_an_uninterrupted_one(
    tmp_path: Path,
) -> None:
    check_family("mocogan", 2, tmp_path)


@pytest.mark.crash
@pytest.mark.parametrize("slug", FAMILIES)
def test_twenty_kills(slug: str, tmp_path: Path) -> None:
    restarts = check_family(slug, 20, tmp_path)
    print(f"{slug}: 20 kills in {restarts} restarts", end=" ")
