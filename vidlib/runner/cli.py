"""``python -m vidlib.runner run|build|check-pages|list|publish`` (``--help`` has
examples)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from vidlib.results import ROOT
from vidlib.runner.build import build
from vidlib.runner.cluster import EXECUTORS, Cluster
from vidlib.runner.errors import RunFailed, RunnerError, show
from vidlib.runner.notebooks import slugs
from vidlib.runner.pages import SCREENSHOTS, check_pages, find_pages
from vidlib.runner.params import PROFILES, add_overrides_option
from vidlib.runner.plan import list_runs, run_all
from vidlib.runner.publish import publish

EXAMPLES = """\
examples:
  python -m vidlib.runner list
  python -m vidlib.runner run shapes --profile smoke
  python -m vidlib.runner run --all --profile cpu --jobs 2  # two chapters at a time
  python -m vidlib.runner run g3an --profile gpu -p train.steps 20000 -p train.seed 1
  python -m vidlib.runner run mocogan --profile cpu -p data.shapes "[circle, square]"
  python -m vidlib.runner run g3an --profile cpu --grid  # the ablation grid only
  python -m vidlib.runner run g3an --profile gpu --grid --executor slurm \\
      --slurm-partition gpu --slurm-time 240 --slurm-gpus 1 --slurm-cpus 8
                                    # each grid run a Slurm job (sbatch)
  python -m vidlib.runner build --profile cpu          # HTML in _build/html
  python -m vidlib.runner build --profile smoke --out _build/smoke
                                    # HTML in _build/smoke/_build/html
  python -m vidlib.runner check-pages  # every page of _build/html in Chromium
  python -m vidlib.runner check-pages --profile smoke  # _build/smoke/_build/html
  python -m vidlib.runner publish      # _build/html as a new commit on gh-pages

profiles: smoke (the notebook's `record` and knobs; notebooks/params/<slug>.smoke.yaml
is optional), cpu, gpu, paper (each needs notebooks/params/<slug>.<profile>.yaml, whose
data/model/train/eval sections replace the notebook's record; other keys are the
chapter's knobs). -p section.key VALUE sets a record setting, -p NAME VALUE a knob.
A run writes <out-root>/<profile>/<slug>/: <slug>.ipynb, results.json and whatever the
notebook saves there; it is skipped while the notebook, its parameters, vidlib/**/*.py
and the runs it needs (front matter `vidlib: needs: [...]`) are unchanged. Chapters
run after the ones they need. Bad input exits 2; a failed notebook or build, or a
book page with problems (check-pages), 1.
A grid (notebooks/params/<slug>.<profile>.grid.yaml: 'variants' name -> record
overrides, optional 'seeds' list) runs each variant (x seed) as run_experiment into
<out-root>/<profile>/<slug>/grid/<variant>[-seed<k>]/; the chapter reads them with
vidlib.results.grid_results(out_dir) and shows vidlib.results.grid_table(...).
--executor slurm submits each grid run (variant x seed) as a job, --executor local
runs the same jobs as subprocesses here; each job's logs go to its run's submitit/,
and the command waits for all of them.
"""

#: the HTML that ``check-pages --profile P`` checks: where ``make book`` (cpu) and
#: ``make smoke-book`` (``build --profile smoke --out _build/smoke``) build it
BOOK_HTML = {
    "cpu": ROOT / "_build" / "html",
    "smoke": ROOT / "_build" / "smoke" / "_build" / "html",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit code."""
    formatting = {"epilog": EXAMPLES, "formatter_class": argparse.RawTextHelpFormatter}
    parser = argparse.ArgumentParser(
        prog="python -m vidlib.runner",
        description="Run the book's notebooks with papermill; build the book.",
        **formatting,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="execute notebooks with papermill", **formatting)
    p_run.add_argument("slugs", nargs="*", metavar="SLUG", help="notebooks/<SLUG>.md")
    p_run.add_argument("--all", action="store_true", help="every notebooks/*.md")
    add_overrides_option(
        p_run, "set a record setting (section.key, VALUE as YAML) or a chapter knob"
    )
    p_run.add_argument("--force", action="store_true", help="rerun even if up to date")
    p_run.add_argument(
        "--jobs",
        type=int,
        default=1,
        metavar="N",
        help="run up to N chapters at a time, each after the chapters it needs,\n"
        "with cores/N threads each (default 1); with one chapter, its grid's\n"
        "variants N at a time",
    )
    p_run.add_argument(
        "--grid",
        action="store_true",
        help="run the variants of notebooks/params/<SLUG>.<profile>.grid.yaml\n"
        "(--all runs each existing grid before its notebook)",
    )
    p_run.add_argument(
        "--executor",
        metavar="|".join(EXECUTORS),
        help="with --grid: submit each grid run as a job with submitit; slurm\n"
        "via sbatch, local as subprocesses here (default: in this process,\n"
        "or --jobs N processes)",
    )
    slurm = p_run.add_argument_group("Slurm jobs (--executor slurm)")
    slurm.add_argument(
        "--slurm-partition", metavar="NAME", help="default: the cluster's"
    )
    slurm.add_argument(
        "--slurm-time",
        type=int,
        metavar="MINUTES",
        help="each job's time limit (default 60; a run cut off resumes on rerun)",
    )
    slurm.add_argument("--slurm-gpus", type=int, metavar="N", help="GPUs per job")
    slurm.add_argument(
        "--slurm-cpus", type=int, metavar="N", help="CPUs per job (its torch threads)"
    )
    slurm.add_argument("--slurm-mem", type=int, metavar="GB", help="memory per job")
    p_build = sub.add_parser(
        "build", help="stage executed notebooks, build HTML", **formatting
    )
    p_build.add_argument(
        "--out",
        type=Path,
        help="JB --path-output: HTML goes to "
        "<OUT>/_build/html (default: the repository)",
    )
    p_check = sub.add_parser(
        "check-pages",
        help="check every page of a built book in headless Chromium",
        **formatting,
    )
    p_check.add_argument(
        "html", nargs="?", type=Path, metavar="DIR", help="the built HTML folder"
    )
    p_check.add_argument(
        "--profile",
        choices=sorted(BOOK_HTML),
        help="without DIR: cpu checks _build/html (the default), smoke\n"
        "_build/smoke/_build/html",
    )
    p_check.add_argument(
        "--no-screenshots", action="store_true", help=f"save none in DIR/{SCREENSHOTS}"
    )
    p_list = sub.add_parser("list", help="notebooks, profiles, run status")
    p_publish = sub.add_parser(
        "publish", help="commit the built HTML onto a branch for GitHub Pages"
    )
    p_publish.add_argument(
        "--html",
        type=Path,
        default=ROOT / "_build" / "html",
        help="the built book (default: _build/html)",
    )
    p_publish.add_argument("--branch", default="gh-pages", help="default: gh-pages")
    p_publish.add_argument("--message", help="commit message (default: names HEAD)")
    for p in (p_run, p_build):
        p.add_argument("--profile", required=True, help=" | ".join(PROFILES))
    for p in (p_run, p_build, p_list):
        p.add_argument(
            "--out-root",
            type=Path,
            help="run dirs are <OUT_ROOT>/<profile>/<slug> (default: _runs)",
        )
    args = parser.parse_args(argv)

    log = logging.getLogger("papermill")  # papermill streams cell output to it
    if not log.handlers:
        log.addHandler(logging.StreamHandler())
        log.setLevel(logging.INFO)
    try:
        if args.command == "run":
            if bool(args.slugs) == args.all:
                raise RunnerError("give notebook slugs or --all (not both)")
            names = slugs() if args.all else args.slugs
            if not names:
                raise RunnerError(f"no notebooks in {show(ROOT / 'notebooks')}")
            run_all(
                names,
                args.profile,
                dict(args.overrides),
                grid=args.grid,
                grids_too=args.all,
                out_root=args.out_root,
                force=args.force,
                jobs=args.jobs,
                cluster=cluster_of(args),
            )
        elif args.command == "build":
            build(args.profile, out=args.out, out_root=args.out_root)
        elif args.command == "check-pages":
            check_book(args.html, args.profile, screenshots=not args.no_screenshots)
        elif args.command == "publish":
            commit = publish(args.html, branch=args.branch, message=args.message)
            print(
                f"published {show(args.html)} as commit {commit} on branch"
                f" {args.branch}; push it with: git push origin {args.branch}"
            )
        else:
            rows = [("SLUG", "PROFILE", "PARAMS FILE", "STATUS")]
            rows += list_runs(args.out_root)
            widths = [max(len(row[i]) for row in rows) for i in range(3)]
            for *cells, state in rows:
                print(*(c.ljust(w) for c, w in zip(cells, widths, strict=True)), state)
    except RunnerError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    return 0


def cluster_of(args: argparse.Namespace) -> Cluster | None:
    """The ``--executor`` and ``--slurm-*`` options of ``run``, checked."""
    slurm = {
        "partition": args.slurm_partition,
        "time_min": args.slurm_time,
        "gpus": args.slurm_gpus,
        "cpus": args.slurm_cpus,
        "mem_gb": args.slurm_mem,
    }
    given = [
        f"--{name.replace('_', '-')}"
        for name, value in vars(args).items()
        if name.startswith("slurm_") and value is not None
    ]
    if given and args.executor != "slurm":
        raise RunnerError(f"{', '.join(given)}: Slurm options need --executor slurm")
    if args.executor is None:
        return None
    return Cluster(args.executor, **{k: v for k, v in slurm.items() if v is not None})


def check_book(html: Path | None, profile: str | None, screenshots: bool) -> None:
    """``check-pages``: print every problem and a summary; RunFailed if any."""
    if html and profile:
        raise RunnerError("give DIR or --profile (not both)")
    html = Path(html or BOOK_HTML[profile or "cpu"])
    log = logging.getLogger("vidlib.runner.pages")  # a line per page as it is done
    if not log.handlers:
        log.addHandler(logging.StreamHandler())
        log.setLevel(logging.INFO)
    start = time.perf_counter()
    problems = check_pages(html, screenshots=screenshots)
    seconds = time.perf_counter() - start
    for problem in problems:
        print(problem)
    pages = len(find_pages(html))
    print(
        f"{pages} pages of {show(html)} checked in {seconds:.0f} s"
        f" ({seconds / pages:.1f} s a page): {len(problems)} problem(s)"
    )
    if screenshots:
        print(f"screenshots: {show(html / SCREENSHOTS)}")
    if problems:
        raise RunFailed(f"{len(problems)} problem(s) in {show(html)}; see above")
