"""Smoke runs: every notebook executes end to end at its default (smoke) parameters.

Runs go through ``vidlib.runner.run_all`` into ``_runs/smoke`` in the order of the
chapters' needs (cached by inputs hash), so the nbval and smoke-book steps of
``make test`` reuse them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vidlib import runner
from vidlib.data.shapes import ACTIONS, BACKGROUNDS, COLORS, SHAPES
from vidlib.results import read_results
from vidlib.runner.cache import OUT_ROOT


@pytest.fixture(scope="module")
def smoke() -> dict[str, dict]:
    order = runner.run_all(runner.slugs(), "smoke")
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
