"""benchmarks/cpu_settings.py's channels-last conversion: each conv in the format of
its rank, and the same numbers as the contiguous nets."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import cpu_settings  # noqa: E402  (benchmarks/ is not a package)
from gpu import model_and_batch  # noqa: E402
from timing import built, random_batch  # noqa: E402


def test_channels_last_converts_each_conv_by_its_rank_and_keeps_the_numbers() -> None:
    model = model_and_batch("tgan", "cpu")[0] | {"ngf": 8, "ndf": 8}  # D: 2-D and 3-D
    plain, other = built(model, torch.device("cpu")), built(model, torch.device("cpu"))
    batch = random_batch(plain.cfg, 2, torch.device("cpu"))
    other_batch = cpu_settings.channels_last(other, batch)
    assert other_batch["video"].is_contiguous(memory_format=torch.channels_last_3d)
    found = []
    for module in other.nets["D"].modules():
        for kind, rank_format in (
            (nn.Conv2d, torch.channels_last),
            (nn.Conv3d, torch.channels_last_3d),
        ):
            if isinstance(module, kind):
                found.append(kind)
                assert module.weight.is_contiguous(memory_format=rank_format)
    assert set(found) == {nn.Conv2d, nn.Conv3d}  # the net holds both kinds
    outputs = []
    for method, video in ((plain, batch["video"]), (other, other_batch["video"])):
        for net in method.nets.values():
            net.eval()
        with torch.no_grad():
            codes = method.codes(2, torch.Generator().manual_seed(0))
            outputs.append((method.nets["D"](video), method.generate(codes)))
    torch.testing.assert_close(*outputs, rtol=1e-4, atol=1e-5)
