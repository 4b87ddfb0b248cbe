"""``fit`` under torchrun (:mod:`vidlib.distributed`): two CPU ranks over gloo train
as one process does on the same global batch, a checkpoint resumes with another
number of ranks, rank 0 alone writes, and a killed rank stops the job.

Starting torch costs seconds on two cores, so one torchrun job of two ranks
(``tests/distributed_child.py``, the command line of ``python -m vidlib.experiment``)
runs the tiny MoCoGAN of ``tests/test_runner.py`` and the tiny NAVS of
``tests/test_navs.py`` to the end, then resumes a MoCoGAN run from a one-process
checkpoint and has its rank 1 killed; the tests read what it left. Rank 1 would fail
the job on any write under a run folder.

Two ranks match one process within ``RTOL``/``ATOL`` (measured after 4 steps: 2.4e-7
for MoCoGAN's weights, 1.7e-6 for NAVS's, in its rank-2 projected transient table);
the global RNG state is the same to the bit.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from tests.test_navs import tiny_record
from tests.test_runner import TINY
from tests.test_train import NoiseVideos, Regression, config
from vidlib import checkpoint as ckpt
from vidlib.data.mixed import MixedImagesVideos
from vidlib.distributed import GlobalBatch, Ranks
from vidlib.experiment import run_experiment
from vidlib.record import Record, parse_record
from vidlib.train import fit

ROOT = Path(__file__).parents[1]
RTOL, ATOL = 1e-4, 1e-5
STEPS = 4  # the runs that end; checkpoints every 2 steps
FIRST = 2  # the one-process checkpoint the killed run resumes

#: one torch thread (as torchrun gives each rank): more only contend for two cores
SMALL_RUN = {
    "train.num_threads": 1,
    "train.checkpoint_every": 2,
    "train.sample_every": 2,
    "train.num_samples": 2,
    "train.log_every": 1,
}


def mocogan(steps: int = STEPS, **train: Any) -> Record:
    """``tests/test_runner.py``'s tiny MoCoGAN with an EMA of G (rank 0 re-estimates
    its BatchNorm statistics alone, outside the steps)."""
    record = parse_record(copy.deepcopy(TINY))
    overrides = {"model.ema_decay": 0.9, "train.steps": steps, **SMALL_RUN, **train}
    return record.replace(overrides)


def navs(steps: int = STEPS) -> Record:
    """``tests/test_navs.py``'s tiny NAVS (the transient table indexed by action, so
    both ranks step the same rows) with the rank-2 projection of Eq. (7)."""
    record = parse_record(tiny_record())
    return record.replace({"model.rank": 2, "train.steps": steps, **SMALL_RUN})


#: the killed run never ends; it keeps every checkpoint
KILLED = {"train.keep_checkpoints": 1000}


def train_dir(out_dir: Path, record: Record) -> Path:
    return out_dir / "train" / record.training_key()


def checkpoint(out_dir: Path, record: Record, step: int) -> dict[str, Any]:
    folder = train_dir(out_dir, record) / "checkpoints"
    return ckpt.load_checkpoint(ckpt.checkpoint_path(folder, step))


@pytest.fixture(scope="module", autouse=True)
def threads_kept() -> Iterator[None]:
    """The runs here set one torch thread; the later tests get theirs back."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@dataclass
class Job:
    """What the two-rank job left: its run folders, exit code, output and the
    seconds from the kill to its end."""

    root: Path
    returncode: int
    output: str
    seconds_after_kill: float


def wait_for(path: Path, process: subprocess.Popen, log: Path) -> None:
    """Until the job writes ``path``; a job that ends or stalls first is stopped
    (torchrun and its ranks, a process group of their own) and its log shown."""
    deadline = time.monotonic() + 240
    while not path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail(f"no {path.name} from the job:\n{log.read_text()}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Job:
    """The two-rank job of the module docstring."""
    root = tmp_path_factory.mktemp("ranks")
    run_experiment(mocogan(FIRST, **KILLED), root / "killed")  # one process
    lines = []
    for name, record in (
        ("mocogan", mocogan()),
        ("navs", navs()),
        ("killed", mocogan(10**6, **KILLED)),
    ):
        path = root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(record.as_dict()))
        lines += ["--", str(path), str(root / name)]
    # the agent checks its workers every second, so rank 0 has time to report the
    # failed collective before it is stopped
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    torchrun += ["--nproc-per-node", "2", "--monitor-interval", "1"]
    log = root / "job.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [*torchrun, "-m", "tests.distributed_child", *lines[1:]],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for(
            train_dir(root / "killed", mocogan()) / "checkpoints" / "step-00000004.pt",
            process,
            log,
        )
        os.kill(int((root / "rank1.pid").read_text()), signal.SIGKILL)
        killed = time.monotonic()
        process.wait(timeout=120)
    return Job(root, process.returncode, log.read_text(), time.monotonic() - killed)


@pytest.fixture(scope="module")
def one_process(job: Job) -> Path:
    """The same MoCoGAN and NAVS runs in this process (after the job: two cores)."""
    for record, name in ((mocogan(), "mocogan"), (navs(), "navs")):
        run_experiment(record, job.root / f"one-{name}", slug=name)
    return job.root


def assert_same_run(one: Path, two: Path, record: Record) -> None:
    """Weights and optimiser states within the tolerance, the same global RNG
    state, one log line per step (rank 1 wrote none) and close scalars."""
    a, b = checkpoint(one, record, STEPS), checkpoint(two, record, STEPS)
    torch.testing.assert_close(b["nets"], a["nets"], rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(b["opts"], a["opts"], rtol=RTOL, atol=ATOL)
    assert torch.equal(b["rng"]["torch"], a["rng"]["torch"])
    logs = [(train_dir(d, record) / "scalars.jsonl").read_text() for d in (one, two)]
    rows = [[json.loads(line) for line in log.splitlines()] for log in logs]
    assert [row["step"] for row in rows[1]] == list(range(1, STEPS + 1))
    torch.testing.assert_close(rows[1], rows[0], rtol=RTOL, atol=ATOL)
    assert (two / "results.json").is_file()


def test_mocogan_on_two_ranks_trains_as_in_one_process(job, one_process) -> None:
    """BatchNorm in G, D_I and D_V, an EMA of G, sample grids from rank 0."""
    assert "mocogan: trained to step 4" in job.output, job.output
    assert "PermissionError" not in job.output, job.output
    assert_same_run(one_process / "one-mocogan", job.root / "mocogan", mocogan())
    samples = train_dir(job.root / "mocogan", mocogan()) / "samples"
    assert sorted(p.name for p in samples.glob("*.png")) == [
        "step-00000002.png",
        "step-00000004.png",
    ]


def test_navs_on_two_ranks_trains_as_in_one_process(job, one_process) -> None:
    """The latent tables too: rows stepped by both ranks (one per action), rows
    each rank owns (one per video), and which rows are ``seen``."""
    assert "navs: trained to step 4" in job.output, job.output
    assert_same_run(one_process / "one-navs", job.root / "navs", navs())
    tables = checkpoint(job.root / "navs", navs(), STEPS)["nets"]
    assert tables["Z_s"]["seen"].all() and tables["Z_t"]["seen"].sum() == 2


def test_a_checkpoint_resumes_with_another_number_of_ranks(
    job, one_process, tmp_path
) -> None:
    """Two ranks' checkpoint continued in one process; one process's (step 2)
    continued by two ranks (the killed run, at step 4): each as one process."""
    for name in ("two", "one"):
        source = job.root / ("mocogan" if name == "two" else "one-mocogan")
        shutil.copytree(source, tmp_path / name)
        resumed = run_experiment(mocogan(STEPS + 2), tmp_path / name)
        assert resumed.fitted.status == "resumed"
    a, b = (checkpoint(tmp_path / n, mocogan(), STEPS + 2) for n in ("one", "two"))
    torch.testing.assert_close(b["nets"], a["nets"], rtol=RTOL, atol=ATOL)

    one = checkpoint(one_process / "one-mocogan", mocogan(), STEPS)
    two = checkpoint(job.root / "killed", mocogan(), STEPS)
    torch.testing.assert_close(two["nets"], one["nets"], rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(two["opts"], one["opts"], rtol=RTOL, atol=ATOL)


def test_a_killed_rank_stops_the_job_and_the_last_checkpoint_resumes(
    job, tmp_path
) -> None:
    """torchrun names the killed rank; rank 0 names the failed collective and the
    checkpoint a rerun resumes from, which loads and resumes."""
    assert job.returncode != 0 and job.seconds_after_kill < 30, job.output
    assert re.search(r"rank\s*: 1 \(local_rank: 1\)", job.output), job.output
    assert "Signal 9 (SIGKILL)" in job.output, job.output
    kept = re.search(
        r"PeerFailed: rank 0 of 2: \w+ across the ranks failed .*\n"
        r".*the checkpoint at step (\d+) is kept in .*: rerun the same command",
        job.output,
    )
    assert kept, job.output
    folder = train_dir(job.root / "killed", mocogan()) / "checkpoints"
    last, path = ckpt.list_checkpoints(folder)[-1]
    assert last >= int(kept[1]) >= STEPS
    assert ckpt.load_checkpoint(path)["step"] == last
    shutil.copytree(job.root / "killed", tmp_path / "killed")
    resumed = run_experiment(mocogan(last + 2, **KILLED), tmp_path / "killed")
    assert (resumed.fitted.status, resumed.fitted.step) == ("resumed", last + 2)


def test_the_global_batch_must_split_into_equal_plain_shares(
    tmp_path, monkeypatch
) -> None:
    """Refused on every rank before anything is joined or written."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    message = r"train\.batch_size 3 is not a multiple of the world size 2"
    with pytest.raises(ValueError, match=message):
        fit(Regression(), NoiseVideos(), config(tmp_path / "run", 1, batch_size=3))
    mixed = MixedImagesVideos(NoiseVideos(), image_fraction=0.5, seed=0)
    with pytest.raises(ValueError, match="MixedImagesVideos collates its own"):
        fit(Regression(), mixed, config(tmp_path / "run", 1))
    assert not (tmp_path / "run").exists()


def test_each_rank_draws_its_rows_of_the_global_batchs_noise() -> None:
    """Rank 1 of 2 with 2 items: what one process draws for 4, its last 2 rows;
    draws of no batch shape and seeded generators as in one process."""

    def draws() -> list[torch.Tensor]:
        own = torch.Generator().manual_seed(5)
        return [
            torch.randn(2, 3),
            torch.rand((4, 2)),
            torch.randint(7, (6,)),
            torch.randn_like(torch.empty(2, 5)),
            torch.randn(3),
            torch.randn(()),
            torch.randn(2, generator=own),
        ]

    torch.manual_seed(0)
    with GlobalBatch(2, Ranks(world=2, rank=1)):
        ours = draws()
    torch.manual_seed(0)
    own = torch.Generator().manual_seed(5)
    whole = [
        torch.randn(4, 3)[2:],
        torch.rand((8, 2))[4:],
        torch.randint(7, (12,))[6:],
        torch.randn_like(torch.empty(4, 5))[2:],
        torch.randn(3),
        torch.randn(()),
        torch.randn(2, generator=own),
    ]
    for mine, expected in zip(ours, whole, strict=True):
        assert torch.equal(mine, expected)
