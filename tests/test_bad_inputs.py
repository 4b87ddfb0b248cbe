"""The catalogue of bad inputs: each case makes one wrong file, folder, parameter or
training state, calls vidlib as a user would, and checks the one sentence it gets
(naming what was wrong and what was expected; a dataset layout error goes on with
the expected layout), that a command-line tool exits 2, and
that nothing already written is lost. The README's table "What a bad input gets" is
rendered from these cases and their actual messages; after changing a message run
``python -m tests.test_bad_inputs`` to rewrite it.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import math
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from tests.test_train import NoiseVideos, Regression, config, tiny_mocogan
from vidlib import afc, committed, seeds, study, verdicts
from vidlib import checkpoint as ckpt
from vidlib.data.datasets import open_dataset
from vidlib.data.video import read_frames, read_strip, read_video, write_video
from vidlib.explorer import explorer
from vidlib.metrics.extractors import EXTRACTORS, load_extractor
from vidlib.record import parse_record, profile_record
from vidlib.results import read_results, write_results
from vidlib.runner import vendor
from vidlib.runner.cli import main as runner
from vidlib.train import NonFiniteLossError, fit, seed_everything

README = Path(__file__).parents[1] / "README.md"
#: the pinned html-manager tarball, fetched by make before the tests
REAL_MANAGER = vendor.tarball("@jupyter-widgets/html-manager", "1.0.15")
START, END = "<!-- bad inputs: start -->", "<!-- bad inputs: end -->"


@dataclass(frozen=True)
class Bad:
    """One bad input: ``what`` (as the README lists it), ``make`` (given an empty
    folder, prepares the input and returns the call that meets it), the regex its
    message must match, and ``kept`` (checks, after the call, that nothing
    already written was lost)."""

    what: str
    make: Callable[[Path], Callable[[], object]]
    expected: str
    kept: Callable[[Path], None] | None = None


# --- inputs ---------------------------------------------------------------------


def video(folder: Path, name: str = "good.mp4", frames: int = 6) -> Path:
    path = folder / name
    write_video(path, np.full((frames, 16, 16, 3), 90, np.uint8))
    return path


def written(folder: Path, name: str, data: bytes) -> Path:
    (folder / name).write_bytes(data)
    return folder / name


def cut_before_index(folder: Path) -> Path:
    data = video(folder).read_bytes()
    return written(folder, "cut.mp4", data[: data.find(b"moov")])


def audio_only(folder: Path) -> Path:
    path = folder / "audio.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return path


def zero_frames(folder: Path) -> Path:
    path = folder / "empty.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=8)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        container.start_encoding()
    return path


def image(folder: Path, name: str, size: tuple[int, int] = (8, 8)) -> Path:
    Image.new("RGB", size).save(folder / name)
    return folder / name


def mixed_frames(folder: Path) -> Path:
    frames = folder / "frames"
    frames.mkdir()
    image(frames, "0001.png", (8, 8))
    image(frames, "0002.png", (9, 8))
    return frames


def short_video_dataset(folder: Path) -> Path:
    (folder / "walk").mkdir()
    video(folder / "walk", "a.mp4", frames=2)
    return folder


def symlink_loop(folder: Path) -> Path:
    (folder / "loop").symlink_to(folder / "loop")
    return folder / "loop"


def trained(folder: Path, steps: int = 3, **model: object) -> Path:
    """A toy run trained ``steps`` steps in ``folder``; its checkpoint folder."""
    seed_everything(0)
    fit(Regression(**model), NoiseVideos(), config(folder, steps=steps))
    return folder / "checkpoints"


def resume(folder: Path, **model: object) -> Callable[[], object]:
    seed_everything(0)
    return lambda: fit(Regression(**model), NoiseVideos(), config(folder, steps=6))


def other_version(folder: Path) -> Callable[[], object]:
    """A checkpoint whose weights an older vidlib named differently."""
    path = trained(folder) / "step-00000003.pt"
    payload = torch.load(path, weights_only=True)
    payload["nets"]["G"] = {"linear." + k: v for k, v in payload["nets"]["G"].items()}
    payload["versions"]["vidlib"] = "0.0.9"
    ckpt.save_checkpoint(path, payload)
    return resume(folder)


def full_disk(folder: Path) -> Callable[[], object]:
    """The disk fills while step 6's checkpoint is written (half of it is)."""
    trained(folder)

    def save(payload: object, name: str) -> None:
        Path(name).write_bytes(b"\0" * 100)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), name)

    def run() -> object:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(torch, "save", save)
            return resume(folder)()

    return run


def checkpoint_file(folder: Path, data: bytes | None) -> Callable[[], object]:
    path = trained(folder) / "step-00000003.pt"
    path.write_bytes(path.read_bytes()[:200] if data is None else data)
    return resume(folder)


def planted_pickle(folder: Path) -> Callable[[], object]:
    class Planted:
        def __reduce__(self) -> tuple:
            return (Path.touch, (folder / "ran",))

    path = trained(folder) / "step-00000003.pt"
    torch.save({"nets": Planted()}, path)
    return resume(folder)


def extractor_weights(folder: Path, change: str) -> Callable[[], object]:
    state = dict(EXTRACTORS["i3d"]().state_dict())
    first = next(iter(state))
    if change == "missing":
        del state[first]
    elif change == "extra":
        state["head.extra.weight"] = torch.zeros(1)
    else:
        state[first] = torch.zeros(3)
    torch.save(state, folder / "rgb_imagenet.pt")
    return lambda: load_extractor("i3d", folder / "rgb_imagenet.pt")


def params(folder: Path, text: str, profile: str = "cpu") -> Callable[[], object]:
    """A repository whose MoCoGAN chapter has ``text`` as its cpu params file."""
    (folder / "notebooks" / "params").mkdir(parents=True)
    (folder / "notebooks" / "mocogan.md").write_text("# MoCoGAN\n")
    (folder / "notebooks" / "params" / "mocogan.cpu.yaml").write_text(text)
    return lambda: profile_record("mocogan", profile, folder)


RECORD = {
    "data": {"resolution": 16, "frames": 8},
    "model": {"name": "mocogan", "video_temporal_padding": 1},
    "train": {"steps": 2, "batch_size": 2},
}


def record(section: str, key: str, value: object) -> Callable[[], object]:
    changed = {name: dict(values) for name, values in RECORD.items()}
    changed.setdefault(section, {})[key] = value
    return lambda: parse_record(changed)


def nan_at(step: int, by: float) -> Callable[[Path], Callable[[], object]]:
    """A run whose loss is multiplied by ``by`` (NaN or inf) at ``step``."""

    def make(folder: Path) -> Callable[[], object]:
        seed_everything(0)
        method = Regression(blow_up_at=step, by=by)
        return lambda: fit(method, NoiseVideos(), config(folder, steps=8))

    return make


def results_file(folder: Path, edit: Callable[[str], str]) -> Callable[[], object]:
    metrics = {"fd": {"value": 327.5, "protocol": "toy"}}
    write_results(folder, slug="toy", profile="cpu", seed=0, metrics=metrics)
    path = folder / "results.json"
    path.write_text(edit(path.read_text()))
    return lambda: read_results(folder)


def cli(main: Callable[[list[str]], int], *argv: str) -> Callable[[], object]:
    return lambda: main(list(argv))


GRID_RUN = ("run", "g3an", "--profile", "cpu", "--grid")  # a committed grid


def with_path(folder: Path, call: Callable[[], object]) -> Callable[[], object]:
    """``call`` with only ``folder`` on PATH (no sbatch, no srun)."""

    def called() -> object:
        path = os.environ["PATH"]
        os.environ["PATH"] = str(folder)
        try:
            return call()
        finally:
            os.environ["PATH"] = path

    return called


def afc_samples(n: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 2, 8, 8, generator=generator) * 2 - 1


def afc_page(folder: Path) -> dict:
    """A 2AFC page of 3 tasks in ``folder``; its key."""
    return afc.write_afc_page(afc_samples(3), afc_samples(3, 1), folder, seed=0)


def afc_answers(folder: Path, answers: dict, page_id: str | None = None):
    """``afc tally`` of one worker's ``answers`` against ``folder``'s page key."""
    key = afc_page(folder)
    data = {"format": afc.ANSWERS_FORMAT, "page_id": page_id or key["page_id"]}
    (folder / "answers.json").write_text(json.dumps(data | {"answers": answers}))
    argv = [str(folder / "answers.json"), "--key", str(folder / afc.KEY)]
    return cli(afc.main, "tally", *argv)


def afc_key_kept(folder: Path) -> None:
    """The first page's key is still there, unchanged."""
    assert (
        json.loads((folder / afc.KEY).read_text())["page_id"]
        == (afc_page(folder / "again")["page_id"])
    )


# --- what must stay -------------------------------------------------------------


def checkpoint_kept(folder: Path) -> None:
    """Step 3's checkpoint is whole and nothing else (no partial file) is there."""
    names = sorted(p.name for p in (folder / "checkpoints").iterdir())
    assert names == ["step-00000003.pt"]
    assert ckpt.load_checkpoint(folder / "checkpoints" / names[0])["step"] == 3


def file_kept(name: str) -> Callable[[Path], None]:
    def kept(folder: Path) -> None:
        assert (folder / name).exists()

    return kept


def nothing_ran(folder: Path) -> None:
    assert not (folder / "ran").exists()


CASES: list[Bad] = [
    Bad(
        "a corrupt video file (random bytes)",
        lambda d: lambda: read_video(written(d, "noise.mp4", os.urandom(4000))),
        r"noise\.mp4: cannot open video .*expected a readable video file",
        file_kept("noise.mp4"),
    ),
    Bad(
        "a video cut off before its index (truncated download)",
        lambda d: lambda: read_video(cut_before_index(d)),
        r"cut\.mp4: cannot open video .*expected a readable video file",
    ),
    Bad(
        "an empty video file (0 bytes)",
        lambda d: lambda: read_video(written(d, "empty.mp4", b"")),
        r"empty\.mp4: cannot open video",
    ),
    Bad(
        "a video file with a video track but zero frames",
        lambda d: lambda: read_video(zero_frames(d)),
        r"empty\.avi: the video has no decodable frames",
    ),
    Bad(
        "a file of the wrong codec: audio only",
        lambda d: lambda: read_video(audio_only(d)),
        r"audio\.mp4: no video stream; expected a file with a video track",
    ),
    Bad(
        "an unreadable video: a link to a file that is gone",
        lambda d: (
            lambda: read_video(
                (d / "gone.mp4").symlink_to(d / "missing.mp4") or d / "gone.mp4"
            )
        ),
        r"gone\.mp4: cannot open video \(.*No such file",
    ),
    Bad(
        "a video shorter than the clip asked for (on_bad='error')",
        lambda d: (
            lambda: open_dataset(
                "folder",
                short_video_dataset(d),
                frames=4,
                resolution=16,
                on_bad="error",
                progress=False,
            )[0]
        ),  # fmt: skip
        r"a\.mp4: video of 2 frames is shorter than a clip of 4 frames",
    ),
    Bad(
        "an image strip of the wrong size (VGAN golf)",
        lambda d: lambda: read_strip(image(d, "strip.jpg", (8, 20))),
        r"strip\.jpg: a vertical strip of square frames must be 8 x \(T \* 8\) pixels,"
        r" got 8x20",
    ),
    Bad(
        "a frame folder of mixed frame sizes",
        lambda d: lambda: read_frames(mixed_frames(d)),
        r"0002\.png: frame size 9x8 differs from 0001\.png \(8x8\); every frame",
    ),
    Bad(
        "a frame folder without frames",
        lambda d: lambda: read_frames(d),
        r"no frames; expected image files \(\.jpg",
    ),
    Bad(
        "a dataset root that is a file",
        lambda d: (
            lambda: open_dataset(
                "weizmann", written(d, "weizmann.zip", b"PK"), frames=4, resolution=16
            )
        ),
        r"weizmann: root .*weizmann\.zip is not a folder",
    ),
    Bad(
        "a dataset root that does not exist",
        lambda d: lambda: open_dataset("mug", d / "MUG", frames=4, resolution=16),
        r"mug: root .*MUG is not a folder",
    ),
    Bad(
        "a dataset root that is a symlink loop",
        lambda d: (
            lambda: open_dataset("folder", symlink_loop(d), frames=4, resolution=16)
        ),
        r"folder: root .*loop cannot be resolved \(Symlink loop.*expected a folder",
    ),
    Bad(
        "a dataset in the wrong layout (UCF101 without its split lists)",
        lambda d: lambda: open_dataset("ucf101", d, frames=4, resolution=16),
        r"ucf101: missing .*ucfTrainTestlist/classInd\.txt",
    ),
    Bad(
        "a class folder without videos (folder dataset)",
        lambda d: (
            lambda: (
                (d / "walk").mkdir()
                or open_dataset("folder", d, frames=4, resolution=16)
            )
        ),
        r"folder: class folder .*walk holds no videos",
    ),
    Bad(
        "an unknown dataset name in a record",
        lambda d: record("data", "dataset", "ucf1O1"),
        r"data\.dataset: unknown dataset 'ucf1O1'; did you mean ucf101\?",
    ),
    Bad(
        "a disk that fills during a checkpoint write",
        full_disk,
        r"cannot write checkpoint .*step-00000006\.pt \(.*No space left on device.*\);"
        r" nothing partial was left",
        checkpoint_kept,
    ),
    Bad(
        "a checkpoint folder of another model",
        lambda d: (
            trained(d) and (lambda: fit(tiny_mocogan(), NoiseVideos(), config(d, 6)))
        ),
        r"holds checkpoints of a different run \(method\.model: checkpoint "
        r"'regression', now 'mocogan'",
        checkpoint_kept,
    ),
    Bad(
        "a checkpoint folder of another config",
        lambda d: trained(d) and resume(d, lr=0.1),
        r"holds checkpoints of a different run \(method\.lr: checkpoint 0\.01, "
        r"now 0\.1",
        checkpoint_kept,
    ),
    Bad(
        "a checkpoint written by another vidlib version whose nets do not fit",
        other_version,
        r"step-00000003\.pt does not fit the net 'G' \(written by vidlib 0\.0\.9; this "
        r"is .*\): .*expected weights of this model and config",
        checkpoint_kept,
    ),
    Bad(
        "a file that is not a checkpoint",
        lambda d: checkpoint_file(d, b"step 3, trust me"),
        r"step-00000003\.pt cannot be read as a checkpoint written by vidlib"
        r".*move it away to restart",
        file_kept("checkpoints/step-00000003.pt"),
    ),
    Bad(
        "a truncated checkpoint",
        lambda d: checkpoint_file(d, None),
        r"step-00000003\.pt cannot be read as a checkpoint .*move it away",
        file_kept("checkpoints/step-00000003.pt"),
    ),
    Bad(
        "a checkpoint whose pickle would run code",
        planted_pickle,
        r"step-00000003\.pt cannot be read .*pickles the Python object .*runs no code",
        nothing_ran,
    ),
    Bad(
        "a weights file with missing keys (I3D)",
        lambda d: extractor_weights(d, "missing"),
        r"rgb_imagenet\.pt does not fit the 'i3d' extractor .*missing keys \['Conv3d",
    ),
    Bad(
        "a weights file with extra keys (I3D)",
        lambda d: extractor_weights(d, "extra"),
        r"does not fit the 'i3d' extractor .*unexpected keys \['head\.extra\.weight'\]",
    ),
    Bad(
        "a weights file with a wrong-shaped key (I3D)",
        lambda d: extractor_weights(d, "shape"),
        r"does not fit the 'i3d' extractor: size mismatch for Conv3d_1a_7x7",
    ),
    Bad(
        "a params file that is not YAML",
        lambda d: params(d, "model: {name: mocogan\n"),
        r"mocogan\.cpu\.yaml is not valid YAML \(line 2\)",
    ),
    Bad(
        "a params file that is not a mapping",
        lambda d: params(d, "- mocogan\n- cpu\n"),
        r"mocogan\.cpu\.yaml must be a YAML mapping of parameter: value",
    ),
    Bad(
        "a params file with an unknown key",
        lambda d: params(d, "model: {name: mocogan, ngff: 64}\n"),
        r"mocogan\.cpu\.yaml: unknown key model\.ngff; did you mean model\.ngf\?",
    ),
    Bad(
        "a params file with a value of the wrong type",
        lambda d: params(
            d, "model: {name: mocogan}\ntrain: {steps: ten, batch_size: 16}\n"
        ),
        r"mocogan\.cpu\.yaml: train\.steps expects int, got 'ten' \(str\)",
    ),
    Bad(
        "a profile the chapter does not have",
        lambda d: params(d, "model: {name: mocogan}\n", profile="gpu"),
        r"mocogan has no 'gpu' profile .*did you mean cpu\? it has: smoke, cpu",
    ),
    Bad(
        "an unknown chapter (runner, exit 2)",
        lambda d: cli(runner, "run", "mocogn", "--profile", "smoke"),
        r"unknown notebook 'mocogn' .*did you mean mocogan\?",
    ),
    Bad(
        "an unknown profile (runner, exit 2)",
        lambda d: cli(runner, "run", "mocogan", "--profile", "fast"),
        r"unknown profile 'fast'; choose one of smoke, cpu, gpu, paper",
    ),
    Bad(
        "an unknown executor for a grid's jobs (runner, exit 2)",
        lambda d: cli(runner, *GRID_RUN, "--executor", "sge"),
        r"--executor 'sge' is not an executor; expected one of local, slurm",
    ),
    Bad(
        "a grid's jobs for Slurm where sbatch is not on PATH (runner, exit 2)",
        lambda d: with_path(d, cli(runner, *GRID_RUN, "--executor", "slurm")),
        r"--executor slurm submits with sbatch and runs with srun, but sbatch and srun"
        r" are not on PATH: run on a Slurm login node, or use --executor local",
    ),
    Bad(
        "an unknown chapter (study, exit 2)",
        lambda d: cli(study.main, "mocogn", "r1", "--every", "10"),
        r"unknown chapter 'mocogn' .*did you mean mocogan\?",
    ),
    Bad(
        "an unknown chapter (reference run, exit 2)",
        lambda d: cli(committed.main, "g3na"),
        r"unknown chapter 'g3na' .*did you mean g3an\?",
    ),
    Bad(
        "an unknown model in a record",
        lambda d: record("model", "name", "vidgan"),
        r"model\.name: unknown model 'vidgan': did you mean 'vgan'\?",
    ),
    Bad(
        "an unknown metric in a record",
        lambda d: record("eval", "metrics", ["fvd_magic"]),
        r"eval\.metrics: unknown metric 'fvd_magic'; .*expected one of mfd",
    ),
    Bad(
        "σ ≤ 0 for a residual-vector model's prior N(0, σ²I)",
        lambda d: (
            lambda: parse_record(
                {**RECORD, "model": {**RECORD["model"], "name": "rjgan", "sigma": 0}}
            )
        ),
        r"section 'model': sigma \(σ of the prior N\(0, σ²I\)\) must be > 0, got 0",
    ),
    Bad(
        "a share of images outside (0, 1) for mixed image/video data",
        lambda d: record("data", "options", {"image_fraction": 1.5}),
        r"data\.options\.image_fraction: the share of training items that are images"
        r" must be in \(0, 1\), got 1\.5",
    ),
    Bad(
        "clips of one frame for RJVAE's (or DSA's) bi-LSTM",
        lambda d: (
            lambda: parse_record(
                {**RECORD, "data": {"frames": 1}, "model": {"name": "rjvae"}}
            )
        ),
        r"frames must be >= 2: the bi-LSTM .* needs a sequence, got frames=1",
    ),
    Bad(
        "a NaN loss during training",
        nan_at(4, math.nan),
        r"step 5: \{'loss': nan\}.*step 3 is kept",
        checkpoint_kept,
    ),
    Bad(
        "an infinite loss during training",
        nan_at(4, math.inf),
        r"step 5: \{'loss': inf\}.*step 3 is kept",
        checkpoint_kept,
    ),
    Bad(
        "a results file whose numbers were edited by hand",
        lambda d: results_file(d, lambda text: text.replace("327.5", "32.75")),
        r"results\.json was changed after vidlib wrote it .*cannot be trusted; rerun",
        file_kept("results.json"),
    ),
    Bad(
        "a results file that is not JSON",
        lambda d: results_file(d, lambda text: text[:40]),
        r"results\.json is not valid JSON .*rerun that run",
        file_kept("results.json"),
    ),
]

CASES += [
    Bad(
        "2AFC answers of another page (afc tally, exit 2)",
        lambda d: afc_answers(d, {"task-000": "left"}, page_id="0123456789abcdef"),
        r"answers\.json answers page '0123456789abcdef', but .*key\.json is the key of "
        r"page '[0-9a-f]{16}'; expected the key\.json written beside that page",
        file_kept("answers.json"),
    ),
    Bad(
        "2AFC answers of a task the key does not have",
        lambda d: afc_answers(d, {"task-009": "left"}),
        r"answers\.json: task 'task-009' is not in .*key\.json \(its tasks are "
        r"task-000 to task-002\)",
    ),
    Bad(
        "2AFC answers with a choice other than left or right",
        lambda d: afc_answers(d, {"task-001": "both"}),
        r"answers\.json: task 'task-001' has choice 'both'; expected 'left' or 'right'",
    ),
    Bad(
        "a 2AFC page of an empty sample set",
        lambda d: lambda: afc.write_afc_page(afc_samples(0), afc_samples(0), d, seed=0),
        r"samples of A are empty \(N = 0\); expected N >= 1 samples",
    ),
    Bad(
        "a 2AFC page of two sample sets of different sizes",
        lambda d: lambda: afc.write_afc_page(afc_samples(4), afc_samples(3), d, seed=0),
        r"the page pairs a\[i\] with b\[i\]: A has 4 samples, B has 3; expected the "
        r"same N",
    ),
    Bad(
        "a 2AFC page into a folder that holds one (its key is kept)",
        lambda d: (
            afc_page(d)
            and (
                lambda: afc.write_afc_page(
                    afc_samples(3, 2), afc_samples(3, 3), d, seed=1
                )
            )
        ),
        r"key\.json exists: .* already holds a 2AFC page; nothing was written",
        afc_key_kept,
    ),
]

CASES += [
    Bad(
        "explorer videos that are not a grid (A, M, C, T, H, W)",
        lambda d: lambda: explorer(torch.zeros(4, 3, 6, 8, 8)),
        r"expected videos \(A, M, C, T, H, W\), got shape \(4, 3, 6, 8, 8\)",
    ),
    Bad(
        "a widget-JS tarball that is not the pinned one (vendor, exit 2)",
        lambda d: (
            written(d, REAL_MANAGER.name, REAL_MANAGER.read_bytes())
            and written(d, "requirejs-2.3.8.tgz", b"not the release")
            and cli(vendor.main, "--packs", str(d))
        ),
        r"requirejs-2\.3\.8\.tgz is not requirejs 2\.3\.8 as pinned in "
        r"vidlib/runner/vendor\.py .*delete it and rerun",
        file_kept("requirejs-2.3.8.tgz"),
    ),
    Bad(
        "checking the pages of a folder that holds no built book (runner, exit 2)",
        lambda d: cli(runner, "check-pages", str(d)),
        r"no built book in .* \(no index\.html\): build one with ",
    ),
    Bad(
        "seed runs before the chapters' own runs (seeds, exit 2)",
        lambda d: cli(seeds.main, "--out-root", str(d)),
        r"<?.*/cpu/mocogan/results\.json: no cpu run of MoCoGAN yet; run its chapter"
        r" first: python -m vidlib\.runner run mocogan --profile cpu",
    ),
    Bad(
        "a claim tested on a metric the book does not measure",
        lambda d: (
            lambda: verdicts.read_claims(
                written(
                    d,
                    "claims.yaml",
                    b"papers: {wang2020g3an: G3AN}\nclaims:\n  - {id: a, paper:"
                    b" wang2020g3an, where: T1, claim: x, test: {better: g3an, than:"
                    b" mocogan, metric: fvd}}\n",
                )
            )
        ),
        r"claims\.yaml, claim 'a': metric 'fvd' is none of \[",
    ),
    Bad(
        "publishing a folder that holds no built book (runner, exit 2)",
        lambda d: cli(runner, "publish", "--html", str(d)),
        r"holds no built book \(expected .*index\.html\); build it first with: "
        r"make book",
    ),
]

ERRORS = (ValueError, NonFiniteLossError)  # every vidlib error a user meets


def meet(case: Bad, folder: Path) -> str:
    """The message ``case`` gets (a CLI's stderr, asserting it exited 2)."""
    call = case.make(folder)
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            returned = call()
    except ERRORS as error:
        return str(error)
    assert returned == 2, f"{case.what}: no error (returned {returned!r})"
    lines = [
        line for line in stderr.getvalue().splitlines() if line.startswith("error:")
    ]
    assert len(lines) == 1, stderr.getvalue()
    return lines[0].removeprefix("error: ")


@pytest.mark.parametrize("case", CASES, ids=[case.what for case in CASES])
def test_a_bad_input_gets_one_clear_sentence(case: Bad, tmp_path: Path) -> None:
    message = meet(case, tmp_path)
    assert re.search(case.expected, message.partition("\n")[0]), message
    assert "Traceback" not in message
    if case.kept is not None:
        case.kept(tmp_path)


def test_the_catalogue_holds_at_least_thirty_inputs() -> None:
    assert len(CASES) >= 30
    assert len({case.what for case in CASES}) == len(CASES)


def table(folder: Path) -> str:
    """The README table: every case and the first line of the message it gets now
    (a dataset's layout error goes on with the expected layout: "…"), the temporary
    folder shown as ``<folder>``, the repository as ``<repo>``."""
    rows = ["| input | message |", "|---|---|"]
    for index, case in enumerate(CASES):
        sub = folder / f"case{index:02d}"
        sub.mkdir()
        message, _, layout = meet(case, sub).partition("\n")
        message = message.replace(str(sub), "<folder>") + (" …" if layout else "")
        message = message.replace(str(README.parent), "<repo>").replace("|", "\\|")
        rows.append(f"| {case.what} | {message} |")
    return "\n".join(rows)


def readme_with(text: str, rendered: str) -> str:
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    return f"{before}{START}\n{rendered}\n{END}{after}"


def test_the_readme_lists_every_bad_input_with_its_message(tmp_path: Path) -> None:
    text = README.read_text()
    assert START in text and END in text
    assert readme_with(text, table(tmp_path)) == text, (
        "README's bad-input table is out of date: python -m tests.test_bad_inputs"
    )


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        README.write_text(readme_with(README.read_text(), table(Path(tmp))))
    print(f"rewrote the bad-input table of {README}", file=sys.stderr)
