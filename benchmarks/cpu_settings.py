"""What thread settings, channels_last and inference mode give each cpu-profile model on
this CPU.

Run ``python benchmarks/cpu_settings.py`` (one command; ``--models`` for some of them,
``--repeats`` for more repeats, ``--out`` for another file). Every model of
:data:`vidlib.compute.MODELS` is built as ``benchmarks/gpu.py`` builds it at the cpu
profile's size and batch (untrained resources, random clips), and each row compares
two settings A and B of one model:

* ``threads``: seconds per training step on 1 thread (A) and on 2 (B), one process;
* ``processes``: the machine's training clips/s with one process on 2 threads (A) and
  with two processes on 1 thread each at once (B), which is how ``make book`` runs
  the chapters (``--jobs 2``); each process trains whole intervals (``r1_every``
  steps with a lazy R1) for at least ``--window-s`` seconds per repeat, the two of B
  started together;
* ``channels_last train`` / ``channels_last sample``: seconds per training step, and
  clips/s of drawing ``--clips`` clips as the evaluation draws them
  (:func:`vidlib.method.sample`), with the nets as built (A) and with every conv in
  the channels-last format of its rank (B, :func:`channels_last`);
* ``inference_mode sample`` / ``inference_mode judges``: clips/s of that draw and of
  judging the drawn clips (``Judges.judge``; untrained judges of the model's data,
  which take the time trained ones take) under ``torch.no_grad`` as the book runs
  them (A) and inside ``torch.inference_mode`` (B).

The machine may be shared, so A and B take turns (A, B, A, B, ...) ``--repeats``
times each and a change of load hits both alike; a row holds every value, the two
medians, ``speedup`` (above 1: B is faster), the load average before and after it
and its wall seconds. A timed value is a call repeated to last about ``--min-s``
seconds. All but ``threads`` and ``processes`` run on ``--threads`` threads
(default 1, what each of the book's two chapters at a time gets on 2 cores).
Results go to ``book/results/benchmarks/cpu_settings/<device>.json`` (not beside
``gpu.py``'s files, which the compute chapter reads as one kind) after every row,
with the machine and each run's git commit, load and settings; rerunning resumes,
running only the rows not there or there with an error.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from gpu import (  # benchmarks/ is sys.path[0] as a script
    RESULTS,
    device_slug,
    git_sha,
    machine,
)
from judges_eval import untrained
from timing import built, random_batch, seconds, train_interval

from vidlib.compute import MODELS, RECORD_OF, model_and_batch
from vidlib.method import Method, sample
from vidlib.record import profile_record
from vidlib.runner.grids import limit_threads
from vidlib.train import channels_last_clips, to_channels_last

CPU = torch.device("cpu")
#: the rows of a model, in the order they are measured
COMPARISONS = (
    "threads",
    "channels_last train",
    "channels_last sample",
    "inference_mode sample",
    "inference_mode judges",
    "processes",
)


#: the channels-last memory format of each kind of conv
def channels_last(method: Method, batch: dict) -> dict:
    """The nets of ``method`` channels-last and ``batch`` as ``fit`` passes it with
    ``train.channels_last`` (:func:`vidlib.train.to_channels_last`)."""
    return channels_last_clips(batch) if to_channels_last(method) else batch


def lasting(fn: Callable[[], Any], min_s: float) -> tuple[Callable[[], None], int]:
    """``fn`` called enough times in a row to last about ``min_s`` seconds (one short
    call's time is mostly noise), after a warm-up call; and that number of calls."""
    fn()  # warm-up: first-call allocations, G_ema's BatchNorm re-estimation
    calls = max(1, round(min_s / seconds(fn, 1)))

    def repeated() -> None:
        for _ in range(calls):
            fn()

    return repeated, calls


def in_turn(
    a: Callable[[], Any], b: Callable[[], Any], repeats: int, min_s: float
) -> tuple[list[float], list[float]]:
    """Seconds per call of ``a`` and of ``b``, timed in turn (a, b, a, b, ...)
    ``repeats`` times each."""
    (a, calls_a), (b, calls_b) = lasting(a, min_s), lasting(b, min_s)
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(repeats):
        times[0].append(seconds(a, 1) / calls_a)
        times[1].append(seconds(b, 1) / calls_b)
    return times


def inference_mode(fn: Callable[[], Any]) -> Callable[[], None]:
    """``fn`` inside ``torch.inference_mode`` (its own ``no_grad`` then changes
    nothing)."""

    def call() -> None:
        with torch.inference_mode():
            fn()

    return call


def summary(
    measure: str, labels: tuple[str, str], values: tuple[list[float], list[float]]
) -> dict[str, Any]:
    """A row's comparison: the values of A and B, their medians and B's speedup (a
    rate's ratio of medians, the inverse ratio for a time)."""
    a, b = (statistics.median(v) for v in values)
    speedup = b / a if measure.endswith("_per_s") else a / b

    def short(x: float) -> float:
        return float(f"{x:.4g}")

    return {
        "measure": measure,
        "a": labels[0],
        "b": labels[1],
        "a_median": short(a),
        "b_median": short(b),
        "speedup": round(speedup, 3),
        "a_values": [short(x) for x in values[0]],
        "b_values": [short(x) for x in values[1]],
    }


#: what A and B of a row are, by the comparison's first word
LABELS = {
    "threads": ("1 thread", "2 threads"),
    "processes": ("one process, 2 threads", "two processes, 1 thread each"),
    "channels_last": ("contiguous", "channels_last"),
    "inference_mode": ("no_grad", "inference_mode"),
}


def contenders(
    name: str, comparison: str, args: argparse.Namespace
) -> tuple[str, Callable[[], Any], Callable[[], Any], int]:
    """The measure of a row of model ``name`` other than ``processes``, the calls of
    A and B, and the work of one call (train steps; clips for a rate)."""
    model, batch_size = model_and_batch(name, "cpu")
    method = built(model, CPU, untrained=True)
    batch = random_batch(method.cfg, batch_size, CPU)

    def draw(of: Method = method) -> None:
        sample(of, args.clips, 0)

    if comparison == "threads":
        interval, block = train_interval(method, batch)

        def on(threads: int) -> Callable[[], None]:
            def call() -> None:
                torch.set_num_threads(threads)
                interval()

            return call

        return "train_step_s", on(1), on(2), block
    if comparison.startswith("channels_last"):
        other = built(model, CPU, untrained=True)
        other_batch = channels_last(other, batch)
        if comparison.endswith("train"):
            interval, block = train_interval(method, batch)
            other_interval = train_interval(other, other_batch)[0]
            return "train_step_s", interval, other_interval, block
        return "sample_clips_per_s", draw, lambda: draw(other), args.clips
    if comparison == "inference_mode sample":
        return "sample_clips_per_s", draw, inference_mode(draw), args.clips
    clips = sample(method, args.clips, 0)
    data = profile_record(RECORD_OF.get(name, name), "cpu").data
    judges = untrained(data.shapes_config)

    def judge() -> None:
        judges.judge(clips)

    return "judge_clips_per_s", judge, inference_mode(judge), args.clips


def compare(name: str, comparison: str, args: argparse.Namespace) -> dict[str, Any]:
    """One row's measurement of model ``name`` (see the module docstring)."""
    model, batch_size = model_and_batch(name, "cpu")
    row = {"batch": batch_size, "frames": model["frames"]}
    row["resolution"] = model["resolution"]
    labels = LABELS[comparison.split()[0]]
    if comparison == "processes":
        values = machine_throughput(name, args.repeats, args.window_s)
        return row | summary("train_clips_per_s", labels, values)
    measure, a, b, work = contenders(name, comparison, args)
    times = in_turn(a, b, args.repeats, args.min_s)
    torch.set_num_threads(args.threads)  # after the threads row's changes
    if measure.endswith("_per_s"):
        values = [work / t for t in times[0]], [work / t for t in times[1]]
    else:
        values = [t / work for t in times[0]], [t / work for t in times[1]]
    return row | summary(measure, labels, values)


class Trainer:
    """A child process that trains model ``name`` on ``threads`` threads (warmed up
    once entered): each :meth:`go` makes it train for ``window_s`` seconds, and
    :meth:`clips_per_s` reads what it trained."""

    def __init__(self, name: str, threads: int, window_s: float) -> None:
        self.command = [sys.executable, __file__, "--window-s", str(window_s)]
        self.command += ["--child", name, str(threads)]

    def __enter__(self) -> Trainer:
        self.log = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen(
            self.command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        try:
            self.answer()  # warmed up
        except RuntimeError:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.process.stdin.close()  # the end of its input ends it
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()

    def answer(self) -> str:
        line = self.process.stdout.readline()
        if not line:
            self.log.seek(0)
            raise RuntimeError(f"training child ended: {self.log.read()[-300:]}")
        return line

    def go(self) -> None:
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def clips_per_s(self) -> float:
        return float(self.answer())


def machine_throughput(
    name: str, repeats: int, window_s: float
) -> tuple[list[float], list[float]]:
    """The machine's training clips/s of model ``name``, in turn ``repeats`` times
    each: one process on 2 threads alone (A); two processes on 1 thread each, started
    together, their clips/s summed (B). The processes wait idle while not timed."""
    with ExitStack() as stack:
        two, *ones = (
            stack.enter_context(Trainer(name, threads, window_s))
            for threads in (2, 1, 1)
        )
        values: tuple[list[float], list[float]] = ([], [])
        for _ in range(repeats):
            for trainers, out in (([two], values[0]), (ones, values[1])):
                for trainer in trainers:
                    trainer.go()
                out.append(sum(trainer.clips_per_s() for trainer in trainers))
    return values


def child(name: str, threads: int, window_s: float) -> None:
    """A :class:`Trainer`'s process: warm up, say so, then one window of training per
    line read, answering its clips/s; end with the input."""
    limit_threads(threads)  # as the book's runner limits each of its processes
    model, batch_size = model_and_batch(name, "cpu")
    method = built(model, CPU, untrained=True)
    interval, block = train_interval(method, random_batch(method.cfg, batch_size, CPU))
    interval()  # warm-up
    print("ready", flush=True)
    for _ in sys.stdin:
        began, steps = time.perf_counter(), 0
        while time.perf_counter() - began < window_s:
            interval()
            steps += block
        print(steps * batch_size / (time.perf_counter() - began), flush=True)


def load() -> float:
    """The load average of the last minute."""
    return round(os.getloadavg()[0], 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument(
        "--comparisons", nargs="+", choices=COMPARISONS, default=list(COMPARISONS)
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--clips", type=int, default=256, help="drawn and judged")
    parser.add_argument("--min-s", type=float, default=1.0)
    parser.add_argument("--window-s", type=float, default=4.0)
    parser.add_argument("--git-sha", default=None)
    parser.add_argument("--note", default="", help="what was particular to this run")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), args.window_s)
        return

    torch.set_num_threads(args.threads)
    # not beside gpu.py's files: vidlib.compute reads every JSON file there as one
    out = args.out or RESULTS / "cpu_settings" / f"{device_slug(CPU)}.json"
    here = machine(CPU)
    old = json.loads(out.read_text()) if out.exists() else {}
    if old.get("machine", {}).get("cpu") != here["cpu"]:
        old = {}  # another machine: start afresh
    rows = old.get("rows", [])  # a row with an error is measured again
    done = {(r["model"], r["comparison"]) for r in rows if "error" not in r}
    runs = old.get("runs", [])
    run = {"run": len(runs) + 1, "git_sha": args.git_sha or git_sha()}
    run |= {"repeats": args.repeats, "threads": args.threads, "clips": args.clips}
    run |= {"min_s": args.min_s, "window_s": args.window_s, "load_before": load()}
    if args.note:
        run["note"] = args.note
    record = {"machine": here, "runs": [*runs, run], "rows": rows}

    for name in args.models:
        for comparison in args.comparisons:
            if (name, comparison) in done:
                continue
            row = {"model": name, "comparison": comparison, "load_before": load()}
            began = time.perf_counter()
            try:
                row |= compare(name, comparison, args)
            except Exception as error:  # a row that cannot run says why; others go on
                row["error"] = f"{type(error).__name__}: {str(error)[:300]}"
            row["seconds"] = round(time.perf_counter() - began, 1)
            row |= {"load_after": load(), "run": run["run"]}
            print(json.dumps(row), flush=True)
            key = (name, comparison)
            rows[:] = [r for r in rows if (r["model"], r["comparison"]) != key]
            rows.append(row)
            run["load_after"] = load()
            run["finished"] = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
