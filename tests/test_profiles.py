"""The gpu and paper profiles, which no machine of this project has run, built on
PyTorch's meta device (NAVS on the CPU): every model chapter's params file must give
a Method whose generator makes clips of the record's data size."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vidlib.method import build
from vidlib.record import Record, profile_record

ROOT = Path(__file__).resolve().parents[1]
UNRUN = sorted(
    (path.name.split(".")[0], path.name.split(".")[1])
    for profile in ("gpu", "paper")
    for path in (ROOT / "notebooks" / "params").glob(f"*.{profile}.yaml")
)


@pytest.mark.parametrize(("slug", "profile"), UNRUN, ids=[".".join(u) for u in UNRUN])
def test_unrun_profile_builds_and_generates_on_the_meta_device(
    slug: str, profile: str
) -> None:
    record = profile_record(slug, profile)
    if not isinstance(record, Record):
        pytest.skip(f"{slug}.{profile}.yaml trains no model")
    # NAVS checks its latent-table rows with values, which the meta device has not
    device = "cpu" if record.model["name"] == "navs" else "meta"
    with torch.device(device), torch.no_grad():
        method = build(record.model, untrained=True)  # e.g. AVLAE's RAFT, untrained
        videos = method.generate(method.codes(2))
    size, frames = record.data.resolution, record.data.frames
    cfg = method.cfg  # VGAN may keep every frame_stride-th of its first output_frames
    frames = len(range(0, frames, getattr(cfg, "frame_stride", 1)))
    frames = min(frames, getattr(cfg, "output_frames", 0) or frames)
    assert videos.shape == (2, 3, frames, size, size)
    assert videos.device.type == device


def test_the_new_chapters_have_unrun_profiles() -> None:
    baselines = {
        (slug, p)
        for slug in ("tgan", "vgan", "avlae", "dsa", "residual")
        for p in ("gpu", "paper")
    }
    assert baselines <= set(UNRUN)
