"""Human 2AFC, as a tool: a static page of pairs for workers, and the tally of their
answers (the residual-vectors paper's Sec. 5.1, Tables 1, 4 and 6).

:func:`write_afc_page` turns two sample sets ``a``, ``b`` of ``N`` videos into
``<out_dir>/index.html``: task ``i`` shows ``a[i]`` and ``b[i]`` side by side, the
left one drawn with probability 1/2 per task from ``seed``, with a radio button under
each and, at the end, a button that downloads the worker's answers as
``answers-<page id>-<worker>.json`` (pure JavaScript, nothing is sent). The page is
one self-contained file: every sample is a data-URI (an animated GIF, a PNG strip of
the frames as in the paper's Fig. 7, or a PNG for single frames), and it loads nothing
from the network. Which run is on which side is written only to ``<out_dir>/key.json``,
which the page does not reference: keep it away from the workers. Both files carry the
page id (a hash of what the page shows), so answers are only ever tallied against
their own key.

An existing page folder is never overwritten unless ``overwrite=True`` (CLI
``--overwrite``): a key whose answers are still coming in would otherwise be lost.
Every input is checked before anything is written.

:func:`tally` reads one answers file per worker and the key: the preference for each
run is the share of all choices (workers × answered tasks) that picked it, with
Wilson's 95% interval (:func:`vidlib.metrics.preference.wilson_interval`, which
treats choices as independent). Unanswered tasks count for neither run.

Command line::

    python -m vidlib.afc page A.pt B.pt OUT_DIR --seed 0 --names RJGAN MoCoGAN
    python -m vidlib.afc tally answers-*.json --key OUT_DIR/key.json

``A.pt`` / ``B.pt`` hold a tensor ``(N, C, T, H, W)`` in [-1, 1] saved with
``torch.save``. Bad input exits 2 with one line ``error: ...``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vidlib import viz
from vidlib.checkpoint import load_weights
from vidlib.metrics.preference import preference
from vidlib.results import write_json, write_text

PAGE, KEY = "index.html", "key.json"
ANSWERS_FORMAT, KEY_FORMAT = "vidlib-afc-answers", "vidlib-afc-key"
CHOICES = ("left", "right")
QUESTION = "Which video looks more realistic?"
DISPLAYS = ("gif", "strip")
MIN_PIXELS = 128  # small samples are upscaled (nearest) to this height (strips: half)


class AFCInputError(ValueError):
    """A 2AFC page, key or answers file that does not fit: one sentence."""


def task_ids(n: int) -> list[str]:
    """The task ids of a page of ``n`` pairs: ``task-000``, ``task-001``, ..."""
    return [f"task-{i:03d}" for i in range(n)]


def left_is_a(n: int, seed: int) -> np.ndarray:
    """``(n,)`` bool: whether run A is shown on the left, each task independently
    with probability 1/2, from ``seed``."""
    return np.random.default_rng([seed, 2]).random(n) < 0.5


def _as_videos(samples: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(samples, torch.Tensor):
        raise AFCInputError(
            f"samples of {name} are a {type(samples).__name__}; expected a tensor "
            "of videos (N, C, T, H, W) in [-1, 1]"
        )
    if samples.ndim == 4:  # images: one frame each
        samples = samples[:, :, None]
    if samples.ndim != 5 or samples.shape[1] not in (1, 3):
        raise AFCInputError(
            f"samples of {name} have shape {tuple(samples.shape)}; expected videos "
            "(N, C, T, H, W) or images (N, C, H, W) with C = 1 or 3, in [-1, 1]"
        )
    if samples.shape[0] == 0:
        raise AFCInputError(
            f"samples of {name} are empty (N = 0); expected N >= 1 samples"
        )
    if not torch.isfinite(samples).all():
        raise AFCInputError(f"samples of {name} hold NaN or inf values")
    return samples.expand(-1, 3, -1, -1, -1)


def _media(video: torch.Tensor, display: str) -> tuple[str, bytes]:
    """One sample ``(3, T, H, W)`` -> (MIME type, bytes) as the page shows it."""
    strip = video.shape[1] > 1 and display == "strip"
    scale = max(1, -(-(MIN_PIXELS // 2 if strip else MIN_PIXELS) // video.shape[-2]))
    if video.shape[1] > 1 and display == "gif":
        return "image/gif", viz.gif_bytes(video[None], ncol=1, scale=scale)
    strip = viz.upscale(viz.filmstrip(video[None], pad=2)[:-2, :-2], scale)
    return "image/png", viz.png_bytes(strip)


def _check_overwrite(out: Path, overwrite: bool) -> None:
    existing = [out / name for name in (KEY, PAGE) if (out / name).exists()]
    if existing and not overwrite:
        raise AFCInputError(
            f"{existing[0]} exists: {out} already holds a 2AFC page; nothing was "
            "written (its key would be lost): choose another folder or pass "
            "overwrite=True (--overwrite)"
        )


def write_afc_page(
    samples_a: torch.Tensor,
    samples_b: torch.Tensor,
    out_dir: str | Path,
    *,
    seed: int,
    names: Sequence[str] = ("A", "B"),
    question: str = QUESTION,
    display: str = "gif",
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write the page ``<out_dir>/index.html`` and its key ``<out_dir>/key.json``
    for the pairs ``(samples_a[i], samples_b[i])`` (module docstring); returns the
    key. ``display``: ``"gif"`` (animated) or ``"strip"`` (the frames in a row)."""
    if len(names) != 2 or names[0] == names[1] or not all(names):
        raise AFCInputError(f"names must be two different run names, got {names!r}")
    if display not in DISPLAYS:
        raise AFCInputError(f"display must be one of {DISPLAYS}, got {display!r}")
    a, b = _as_videos(samples_a, names[0]), _as_videos(samples_b, names[1])
    if len(a) != len(b):
        raise AFCInputError(
            f"the page pairs a[i] with b[i]: {names[0]} has {len(a)} samples, "
            f"{names[1]} has {len(b)}; expected the same N"
        )
    out = Path(out_dir)
    _check_overwrite(out, overwrite)
    ids, a_left = task_ids(len(a)), left_is_a(len(a), seed)
    media, sides, digest = [], {}, hashlib.sha256(question.encode())
    for task, first, x, y in zip(ids, a_left, a, b, strict=True):
        left, right = (x, y) if first else (y, x)
        pair = [_media(v, display) for v in (left, right)]
        for _, data in pair:
            digest.update(data)
        media.append(pair)
        sides[task] = dict(zip(CHOICES, names if first else names[::-1], strict=True))
    page_id = digest.hexdigest()[:16]
    key = {
        "format": KEY_FORMAT,
        "page_id": page_id,
        "names": list(names),
        "seed": seed,
        "question": question,
        "display": display,
        "tasks": sides,
    }
    write_json(out / KEY, key)
    write_text(out / PAGE, _html(page_id, question, ids, media))
    return key


def _html(
    page_id: str, question: str, ids: list[str], media: list[list[tuple[str, bytes]]]
) -> str:
    tasks = []
    for number, (task, pair) in enumerate(zip(ids, media, strict=True), 1):
        options = "".join(
            f'<label><img alt="{side}" src="data:{mime};base64,'
            f'{base64.b64encode(data).decode()}"><br><input type="radio" '
            f'name="{task}" value="{side}"> {side}</label>'
            for side, (mime, data) in zip(CHOICES, pair, strict=True)
        )
        tasks.append(
            f'<div class="task" id="{task}"><p>Task {number} of {len(ids)}</p>'
            f"{options}</div>"
        )
    return _TEMPLATE.format(
        page_id=page_id,
        question=escape(question),
        tasks="\n".join(tasks),
        ids=json.dumps(ids),
        answers_format=ANSWERS_FORMAT,
    )


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="afc-page-id" content="{page_id}">
<title>2AFC {page_id}</title>
<style>
body {{ font-family: sans-serif; max-width: 60em; margin: 1em auto; }}
.task {{ border-top: 1px solid #ccc; padding: 0.5em 0; }}
.task label {{ display: inline-block; margin: 0 1.5em; text-align: center; }}
.task img {{ image-rendering: pixelated; }}
</style></head>
<body>
<h1>{question}</h1>
<p>For each task, choose one of the two. Every task has an answer; when in doubt,
pick the one you find slightly better. At the end, download your answers and send
the file back.</p>
<p><label>Your name or worker id (optional): <input id="worker"></label></p>
{tasks}
<p><button id="download">Download answers</button> <span id="status"></span></p>
<script>
const PAGE_ID = "{page_id}";
const TASKS = {ids};
document.getElementById("download").onclick = function () {{
  const answers = {{}};
  for (const id of TASKS) {{
    const chosen = document.querySelector('input[name="' + id + '"]:checked');
    if (chosen) answers[id] = chosen.value;
  }}
  const missing = TASKS.length - Object.keys(answers).length;
  if (missing && !confirm(missing + " of " + TASKS.length +
      " tasks have no answer yet. Download anyway?")) return;
  let worker = document.getElementById("worker").value.trim();
  if (!worker) {{
    const bytes = crypto.getRandomValues(new Uint8Array(4));
    worker = "anon-" + Array.from(bytes, (x) => x.toString(16).padStart(2, "0"))
      .join("");
    document.getElementById("worker").value = worker;
  }}
  const text = JSON.stringify({{format: "{answers_format}", page_id: PAGE_ID,
                                worker: worker, answers: answers}}, null, 1);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], {{type: "application/json"}}));
  link.download = "answers-" + PAGE_ID + "-" +
    worker.replace(/[^A-Za-z0-9_-]/g, "_") + ".json";
  document.body.appendChild(link);
  link.click();
  link.remove();
  document.getElementById("status").textContent =
    "saved " + Object.keys(answers).length + " answers as " + link.download;
}};
</script>
</body></html>
"""


def _read_json(path: Path, fmt: str, expected: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise AFCInputError(
            f"{path}: cannot be read ({error.strerror}); expected {expected}"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise AFCInputError(
            f"{path} is not valid JSON ({error}); expected {expected}"
        ) from None
    if not isinstance(data, dict) or data.get("format") != fmt:
        raise AFCInputError(f"{path} is not {expected} (no format {fmt!r})")
    return data


def read_key(path: str | Path) -> dict[str, Any]:
    """The answer key written by :func:`write_afc_page`, checked."""
    path = Path(path)
    key = _read_json(path, KEY_FORMAT, "a 2AFC answer key (key.json beside a page)")
    names, tasks = key.get("names"), key.get("tasks")
    sides_ok = isinstance(tasks, dict) and all(
        isinstance(s, dict) and sorted(s) == sorted(CHOICES) for s in tasks.values()
    )
    if not (isinstance(names, list) and len(names) == 2 and sides_ok and tasks):
        raise AFCInputError(
            f"{path} is damaged: expected two names and, per task, the run shown "
            "left and right"
        )
    return key


def read_answers(
    path: str | Path, key: dict[str, Any], key_path: Path
) -> tuple[str, dict[str, str]]:
    """One worker's answers file, checked against ``key`` (read from ``key_path``):
    ``(worker, {task id: "left" | "right"})``."""
    path = Path(path)
    data = _read_json(path, ANSWERS_FORMAT, "a 2AFC answers file from a page")
    if data.get("page_id") != key["page_id"]:
        raise AFCInputError(
            f"{path} answers page {data.get('page_id')!r}, but {key_path} is the key "
            f"of page {key['page_id']!r}; expected the key.json written beside that "
            "page"
        )
    answers = data.get("answers")
    if not isinstance(answers, dict) or not answers:
        raise AFCInputError(
            f"{path} holds no answers; expected {{task id: 'left' or 'right'}}"
        )
    for task, choice in answers.items():
        if task not in key["tasks"]:
            raise AFCInputError(
                f"{path}: task {task!r} is not in {key_path} (its tasks are "
                f"{min(key['tasks'])} to {max(key['tasks'])})"
            )
        if choice not in CHOICES:
            raise AFCInputError(
                f"{path}: task {task!r} has choice {choice!r}; expected 'left' or "
                "'right'"
            )
    return str(data.get("worker", "")), answers


def tally(
    answers_paths: str | Path | Sequence[str | Path], key_path: str | Path
) -> dict[str, Any]:
    """Preference of each run over all workers' choices: :func:`preference`'s fields
    (exact ``counts``, ``share``, Wilson 95% ``ci``) plus ``page_id``, ``workers``,
    ``tasks`` (on the page), ``protocol`` and ``files``."""
    if isinstance(answers_paths, str | Path):
        answers_paths = [answers_paths]
    paths = [Path(p) for p in answers_paths]
    if not paths:
        raise AFCInputError("no answers files given; expected one per worker")
    if len({p.resolve() for p in paths}) != len(paths):
        raise AFCInputError(
            f"an answers file is given twice ({[str(p) for p in paths]}); each "
            "worker's file counts once"
        )
    key_path = Path(key_path)
    key = read_key(key_path)
    a, b = key["names"]
    counts, workers = {a: 0, b: 0}, {}
    for path in paths:
        worker, answers = read_answers(path, key, key_path)
        if worker and worker in workers:
            raise AFCInputError(
                f"{path} and {workers[worker]} are both answers of worker "
                f"{worker!r}; expected one file per worker"
            )
        workers[worker] = path
        for task, choice in answers.items():
            counts[key["tasks"][task][choice]] += 1
    entry = preference(counts[a], counts[b], names=(a, b))
    return {
        **entry,
        "page_id": key["page_id"],
        "workers": len(paths),
        "tasks": len(key["tasks"]),
        "protocol": "mean worker preference (residual-vectors Sec. 5.1): share of "
        "choices over workers x answered tasks, human 2AFC",
        "files": [str(p) for p in paths],
    }


def format_tally(result: dict[str, Any]) -> str:
    """A small text table of a :func:`tally`."""
    lines = [
        f"2AFC page {result['page_id']}: {result['workers']} worker(s), "
        f"{result['tasks']} tasks, {result['n']} choices",
        f"{'run':<16} {'chosen':>7} {'share':>7}  interval",
    ]
    for name in result["names"]:
        low, high = result["ci"][name]
        lines.append(
            f"{name:<16} {result['counts'][name]:>7} {result['share'][name]:>7.3f}  "
            f"[{low:.3f}, {high:.3f}]"
        )
    return "\n".join([*lines, f"interval: {result['ci_method']}"])


def _load_samples(path: str) -> torch.Tensor:
    expected = "a tensor file: torch.save(videos), videos (N, C, T, H, W) in [-1, 1]"
    return _as_videos(load_weights(Path(path), expected), path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vidlib.afc", description="Human 2AFC pages and their tally."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    page = commands.add_parser("page", help="write a 2AFC page and its key")
    page.add_argument("samples", nargs=2, help="two .pt files of videos (A, B)")
    page.add_argument("out_dir")
    page.add_argument("--seed", type=int, required=True)
    page.add_argument("--names", nargs=2, default=["A", "B"])
    page.add_argument("--question", default=QUESTION)
    page.add_argument("--display", choices=DISPLAYS, default="gif")
    page.add_argument("--overwrite", action="store_true")
    count = commands.add_parser("tally", help="tally workers' answers against a key")
    count.add_argument("answers", nargs="+", help="answers-*.json, one per worker")
    count.add_argument("--key", required=True, help="the page's key.json")
    args = parser.parse_args(argv)
    try:
        if args.command == "page":
            a, b = (_load_samples(p) for p in args.samples)
            key = write_afc_page(
                a, b, args.out_dir, seed=args.seed, names=args.names,
                question=args.question, display=args.display,
                overwrite=args.overwrite,
            )  # fmt: skip
            print(f"page {key['page_id']}: {Path(args.out_dir) / PAGE}")
            print(f"key (keep it from the workers): {Path(args.out_dir) / KEY}")
        else:
            print(format_tally(tally(args.answers, args.key)))
    except ValueError as error:  # a bad file or argument: one sentence
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
