"""Smoke runs: every notebook executes end to end at its default (smoke) parameters.

Runs go through ``vidlib.runner.run_all`` into ``_runs/smoke`` in the order of the
chapters' needs (cached by inputs hash): ``make test`` runs them first (its
``smoke-runs``, beside the unit tests, for nbval and the smoke book) and this file
last and alone, so the fixture finds them up to date.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from unittest import mock

import pytest

from vidlib import runner
from vidlib.data.shapes import ACTIONS, BACKGROUNDS, COLORS, SHAPES
from vidlib.results import ROOT, read_results
from vidlib.runner.cache import OUT_ROOT
from vidlib.runner.plan import kernel_threads

#: chapters the smoke fixture runs at a time (each kernel gets kernel_threads of it);
#: the Makefile's smoke-runs passes the same --jobs
SMOKE_JOBS = 2


@pytest.fixture(scope="module")
def smoke() -> dict[str, dict]:
    order = runner.run_all(runner.slugs(), "smoke", jobs=SMOKE_JOBS)
    return {slug: read_results(OUT_ROOT / "smoke" / slug) for slug in order}


def run_dir(results: dict) -> Path:
    return Path(results["notebook"]).resolve().parent


def test_every_notebook_has_a_smoke_run_with_provenance(smoke: dict[str, dict]) -> None:
    assert set(smoke) >= {"shapes", "mocogan"}
    for slug, results in smoke.items():
        assert results["slug"] == slug
        assert results["profile"] == "smoke"
        assert results["git_sha"]
        assert results["versions"]["torch"].startswith("2.13.0")
        assert results["inputs_hash"]
        for metric in results["metrics"].values():
            assert metric["protocol"]


def test_shapes_smoke_run(smoke: dict[str, dict]) -> None:
    metrics = smoke["shapes"]["metrics"]
    expected = len(SHAPES) * len(COLORS) * len(BACKGROUNDS) * len(ACTIONS)
    assert metrics["combinations"]["value"] == expected
    assert metrics["render_clips_per_second"]["value"] > 0


def test_mocogan_smoke_run(smoke: dict[str, dict]) -> None:
    results = smoke["mocogan"]
    folder = run_dir(results)
    assert (folder / results["artifacts"]["checkpoint"]).is_file()
    assert list((folder / results["artifacts"]["samples"]).glob("*.gif"))
    metrics = results["metrics"]
    assert 0 <= metrics["mfd_fake"]["value"] <= 1
    assert metrics["mfd_real"]["value"] > 0.005  # Shapes clips move
    assert metrics["train_seconds_per_step"]["value"] > 0


def test_avlae_smoke_run_records_its_reconstructions(smoke: dict[str, dict]) -> None:
    metrics = smoke["avlae"]["metrics"]
    assert 0 < metrics["recon_l1"]["value"] <= 1
    assert metrics["recon_l1"]["n"] == smoke["avlae"]["record"]["eval"]["num"]
    for code in ("z_A", "z_M"):
        assert metrics[f"code_effect_{code}"]["value"] > 0


#: what differs between two runs of one command: when and how long, where the
#: executed notebook went, and the digest of those
VOLATILE = ("created", "wall_time_s", "notebook", "digest")


def files(roots: list[Path], skip: list[Path]) -> dict[Path, int]:
    """Every file under ``roots`` (not under ``skip`` or a ``__pycache__``) with its
    modification time."""
    found = {}
    for root in roots:
        for folder, subfolders, names in os.walk(root):
            here = Path(folder)
            if here.name == "__pycache__" or any(here.is_relative_to(s) for s in skip):
                subfolders[:] = []
                continue
            for name in names:
                with contextlib.suppress(OSError):  # a file another process removed
                    found[here / name] = (here / name).stat().st_mtime_ns
    return found


@pytest.mark.notebook
def test_a_chapter_run_again_writes_the_same_results_and_only_in_its_folder(
    smoke: dict[str, dict], tmp_path: Path
) -> None:
    """The MoCoGAN smoke chapter, run a second time into another out-root: identical
    results apart from times, and nothing written outside that folder (the
    repository, the home folder and the temporary folder watched)."""
    out_root = tmp_path / "again"
    # a temporary folder of its own (TMPDIR, which the runner, papermill and the
    # kernel use), so that other processes' files in the system's do not count
    with tempfile.TemporaryDirectory() as private:
        roots = [ROOT, Path.home(), Path(private)]
        skip = [ROOT / ".venv", ROOT / ".git", ROOT / "_build", tmp_path.parent.parent]
        skip += [Path.home() / ".cache" / "pip"]
        before = files(roots, skip)
        # the fixture's kernels' threads: sums in another order differ in the last
        # digits
        env = {"OMP_NUM_THREADS": str(kernel_threads(SMOKE_JOBS)), "TMPDIR": private}
        with (
            mock.patch.dict(os.environ, env),
            mock.patch.object(tempfile, "tempdir", private),
        ):
            again = runner.run("mocogan", "smoke", out_root=out_root, force=True)
        after = files(roots, skip)
    changed = sorted(
        str(p) for p in set(before) | set(after) if before.get(p) != after.get(p)
    )
    assert not changed, changed

    def steady(results: dict) -> dict:
        metrics = {k: v for k, v in results["metrics"].items() if "seconds" not in k}
        kept = {k: v for k, v in results.items() if k not in VOLATILE}
        return {**kept, "metrics": metrics}

    assert steady(again) == steady(smoke["mocogan"])
