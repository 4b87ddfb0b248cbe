"""Every model's training and sampling speed and peak memory on one device, eager and
compiled, fp32 and bf16.

Run ``python benchmarks/gpu.py`` (one command): on a CUDA device it times every model
of the book at the paper's size, on a CPU at the cpu profile's size (``--size`` to
choose). Each row is one model in one setting: ``eager`` or ``compiled``
(``vidlib.train.compile_nets``, what ``fit`` does with ``train.compile``) × ``fp32`` or
``bf16`` autocast, with

* ``train_step_s`` / ``train_clips_per_s``: the median ``train_step`` on random clips
  after a warm-up interval (with a lazy R1, whole intervals of ``r1_every`` steps);
* ``sample_clips_per_s``: ``generate`` for a batch from fresh codes, in eval mode;
* ``peak_memory_mib``: torch's peak allocation on CUDA, the process's peak resident
  set on a CPU (a row runs in a process of its own there);
* ``first_interval_s``: the warm-up interval, compilation included.

A model's size and batch come from its ``paper`` or ``cpu`` record
(``vidlib.record.profile_record``); where the book has no paper record (MoCoGAN,
RMoCoGAN, RJVAE) the config class's defaults, which are the paper's, at the paper's
batch. AVLAE's paper size runs RAFT-large untrained: vidlib never downloads its
weights, and the step's time does not depend on them.

Rows run in child processes, eager settings first, so a budget (``--budget-s``) or a
long compilation (``--child-timeout-s``; its row says ``stopped after N s``) costs
only the rows not yet run. Results go
to ``book/results/benchmarks/<device>.json`` after every child, with the machine and
the versions; rerunning resumes: it runs only the rows not there or there with an
error, and each row names its run, whose git commit, load and settings the file lists.
``--fit-check`` first trains every chapter's smoke experiment on the device
(:func:`fit_check`). The compute section of the book reads these files. With
``--gpus N`` (default: every CUDA device here) each model's eager fp32 step is also
timed on N ranks under torchrun, as ``fit`` trains there
(:mod:`vidlib.distributed`), each rank on one GPU with the model's batch: the row
``eager fp32 ×N`` gives the global batch and its clips/s. On a CPU ``--gpus 2``
runs the same with gloo.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from timing import measure  # benchmarks/ is sys.path[0] as a script

from vidlib import __version__
from vidlib.compute import MODELS, SETTINGS, model_and_batch
from vidlib.distributed import Ranks
from vidlib.experiment import run_experiment
from vidlib.record import profile_record

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "book" / "results" / "benchmarks"


def device_slug(device: torch.device) -> str:
    """The file name of a device's results: its CUDA name, or the CPU's layout."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = f"cpu {platform.machine()} {os.cpu_count()} cores"
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def cpu_model() -> str:
    """The CPU's model name and its bf16 instructions (bf16 autocast on a CPU is
    fast only with them), from ``/proc/cpuinfo`` where there is one."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor()
    name = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    flags = set(re.findall(r"\b(avx512_bf16|amx_bf16)\b", text))
    return " ".join([name[1] if name else platform.processor(), *sorted(flags)])


def machine(device: torch.device) -> dict[str, Any]:
    """What the numbers were measured on."""
    info = {
        "cpu": cpu_model(),
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU {platform.machine()}",
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "vidlib": __version__,
    }
    if device.type == "cuda":
        info["cuda"] = torch.version.cuda
        info["gpus"] = torch.cuda.device_count()
    return info


def child(
    name: str, size: str, settings: list[str], device: str, repeats: int, batch: int
) -> None:
    """Time ``settings`` of one model (at ``batch``, 0: its own); print one JSON row
    per setting."""
    model, own_batch = model_and_batch(name, size)
    batch = batch or own_batch
    ranks = Ranks.from_env()
    for setting in settings:
        mode, precision = setting.split()[:2]
        row: dict[str, Any] = {"model": name, "setting": setting}
        row["batch"] = batch * ranks.world
        try:
            row |= measure(
                model,
                batch,
                torch.device(device),
                precision == "bf16",
                repeats,
                compiled=mode == "compiled",
                untrained=True,
                ranks=ranks,
            )
        except Exception as error:  # a row that cannot run says why; the rest go on
            row["error"] = f"{type(error).__name__}: {str(error)[:300]}"
        if ranks.main:
            print("ROW " + json.dumps(row), flush=True)


def groups(device: torch.device, todo: list[tuple[str, str]]) -> list[list]:
    """Children to run, ``[model, settings]`` each: every eager row first, then the
    compiled rows setting by setting, then the rows on N GPUs. On CUDA one child runs
    a model's eager settings together (a process start is device time); a compiled
    row, a row on N GPUs and, on a CPU, every row runs alone (peak memory is the
    process's there)."""
    out: dict[tuple, list] = {}
    for name, setting in todo:
        together = device.type == "cuda" and setting in SETTINGS[:2]
        key = ("eager" if together else setting, name)
        out.setdefault(key, []).append(setting)
    rank = {setting: i for i, setting in enumerate(("eager", *SETTINGS))}
    order = sorted(out, key=lambda k: (rank.get(k[0], len(rank)), MODELS.index(k[1])))
    return [[key[1], out[key]] for key in order]


#: the chapters whose smoke experiment ``fit_check`` trains (AVLAE's would first
#: train its embedded flow estimator)
FIT_CHECKED = ("mocogan", "g3an", "navs", "tgan", "vgan", "residual", "dsa")


def fit_check(device: torch.device) -> dict[str, Any]:
    """Each chapter's smoke experiment trained on ``device`` end to end (data,
    ``fit``, checkpoints, samples; no metrics): status, steps and seconds; and
    MoCoGAN's run stopped half-way and resumed against an uninterrupted one: the
    largest difference of any weight (0 where resuming replays the same steps)."""
    checks: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        for slug in FIT_CHECKED:
            record = profile_record(slug, "smoke").as_dict()
            record["train"]["device"] = str(device)
            record["eval"]["metrics"] = []
            began = time.perf_counter()
            try:
                exp = run_experiment(record, Path(folder) / slug)
                checks[slug] = {
                    "status": exp.fitted.status,
                    "steps": exp.fitted.step,
                    "device": str(exp.method.device),
                    "seconds": round(time.perf_counter() - began, 2),
                }
            except Exception as error:
                checks[slug] = {"error": f"{type(error).__name__}: {error}"[:300]}
            if slug == "mocogan" and "error" not in checks[slug]:
                half = copy.deepcopy(record)
                half["train"]["steps"] //= 2
                run_experiment(half, Path(folder) / "resumed")
                resumed = run_experiment(record, Path(folder) / "resumed").method
                checks["mocogan_resume_max_weight_diff"] = max(
                    (a - b).abs().max().item()
                    for name, net in exp.method.nets.items()
                    for a, b in zip(
                        net.state_dict().values(),
                        resumed.nets[name].state_dict().values(),
                        strict=True,
                    )
                    if a.is_floating_point()
                )
    return checks


def git_sha() -> str:
    """The checkout's commit (``--git-sha`` where the folder has no git)."""
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--device", default="cuda" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument("--size", choices=("paper", "cpu"), default=None)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--settings", nargs="+", choices=SETTINGS, default=None)
    parser.add_argument(
        "--gpus",
        type=int,
        default=torch.cuda.device_count() if torch.cuda.is_available() else 1,
        help="N > 1 adds each model's eager fp32 step on N ranks (torchrun; gloo on "
        "a CPU), its batch on each (default: the CUDA devices here)",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=0, help="0: each model's own")
    parser.add_argument("--budget-s", type=float, default=float("inf"))
    parser.add_argument("--child-timeout-s", type=float, default=600)
    parser.add_argument("--git-sha", default=None)
    parser.add_argument("--note", default="", help="what was particular to this run")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--fit-check", action="store_true", help="see fit_check")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    device = torch.device(args.device)
    size = args.size or ("paper" if device.type == "cuda" else "cpu")
    if args.child:
        child(
            args.child[0], size, args.child[1:], args.device, args.repeats, args.batch
        )
        return

    out = args.out or RESULTS / f"{device_slug(device)}.json"
    settings = args.settings or list(SETTINGS)
    if args.gpus > 1:
        settings.append(f"eager fp32 ×{args.gpus}")
    here = machine(device)
    old = json.loads(out.read_text()) if out.exists() else {}
    if (old.get("size"), old.get("machine", {}).get("device")) != (
        size,
        here["device"],
    ):
        old = {}  # another size or device: start afresh
    rows = old.get("rows", [])  # a row with an error is run again
    done = {(r["model"], r["setting"]) for r in rows if "error" not in r}
    todo = [(m, s) for s in settings for m in args.models if (m, s) not in done]
    runs = old.get("runs", [])
    run = {
        "run": len(runs) + 1,
        "git_sha": args.git_sha or git_sha(),
        "repeats": args.repeats,
        "batch": args.batch or "each model's own",
        "load_before": round(os.getloadavg()[0], 2),
    }
    if args.note:
        run["note"] = args.note
    record = {"size": size, "machine": here, "runs": [*runs, run], "rows": rows}
    if "fit_check" in old:
        record["fit_check"] = old["fit_check"]

    def write() -> None:
        run["load_after"] = round(os.getloadavg()[0], 2)
        run["finished"] = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(record, indent=2) + "\n")

    began = time.perf_counter()
    if args.fit_check:
        record["fit_check"] = {"run": run["run"], **fit_check(device)}
        print(json.dumps(record["fit_check"]), flush=True)
        write()
    for name, wanted in groups(device, todo):
        if time.perf_counter() - began > args.budget_s:
            print(f"budget of {args.budget_s:.0f} s spent: {name} {wanted} not run")
            continue
        command = [sys.executable, __file__, "--device", args.device, "--size", size]
        if "×" in wanted[0]:  # on N ranks, one per GPU
            launch = ["-m", "torch.distributed.run", "--nproc-per-node", str(args.gpus)]
            command[1:1] = launch
        command += ["--repeats", str(args.repeats), "--batch", str(args.batch)]
        command += ["--child", name, *wanted]
        try:
            child_run = subprocess.run(
                command, capture_output=True, text=True, timeout=args.child_timeout_s
            )
            lines, tail = child_run.stdout.splitlines(), child_run.stderr[-300:]
        except subprocess.TimeoutExpired as stopped:
            text = stopped.stdout or b""
            lines = (text.decode() if isinstance(text, bytes) else text).splitlines()
            tail = f"stopped after {args.child_timeout_s:.0f} s"
        new = [json.loads(line[4:]) for line in lines if line.startswith("ROW ")]
        for setting in wanted[len(new) :]:  # the child died before these
            new.append({"model": name, "setting": setting, "error": tail})
        for row in new:
            row["run"] = run["run"]
            print(json.dumps(row), flush=True)
        keys = {(r["model"], r["setting"]) for r in new}
        rows[:] = [r for r in rows if (r["model"], r["setting"]) not in keys] + new
        write()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
