"""Conditional generation judged: does a clip show the category it was asked for?

G3AN's conditional model (Sec. 4.3.2 of the paper) takes a category (an action) as a
code. :func:`conditional_accuracy` draws ``n`` codes with ``seed``, asks for a category
drawn uniformly from ``categories`` (the global label indices the model was trained
on), generates every clip with the nets in eval mode and returns the share whose
judged label (``judges.predict(videos)[factor]``) is the asked category. Chance is
``1 / len(categories)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from vidlib.method import Method, eval_mode
from vidlib.metrics.judges import Judges

CONDITIONAL_PROTOCOL = (
    "share of conditional clips whose judged {factor} is the asked category "
    "(categories uniform over the trained {factor}s)"
)


@torch.no_grad()
def conditional_accuracy(
    method: Method,
    judges: Judges,
    categories: Sequence[int],
    n: int,
    seed: int,
    factor: str = "action",
) -> dict[str, Any]:
    """The metric entry ``{"value", "protocol", "n", "chance", "better"}`` (see the
    module docstring); ``method.codes`` must hold a ``"category"`` code."""
    if not categories:
        raise ValueError("conditional_accuracy: categories is empty")
    codes = method.codes(n, torch.Generator().manual_seed(seed))
    if "category" not in codes:
        raise ValueError(
            f"conditional_accuracy: {type(method).__name__}.codes() has no 'category'"
            f" code (codes: {sorted(codes)}); is the model conditional?"
        )
    used = torch.tensor(list(categories))
    asked = used[codes["category"].cpu() % len(used)]
    with eval_mode(method):
        videos = method.generate({**codes, "category": asked})
    judged = judges.predict(videos)[factor].cpu()
    return {
        "value": (judged == asked).float().mean().item(),
        "protocol": CONDITIONAL_PROTOCOL.format(factor=factor),
        "n": n,
        "chance": 1 / len(used),
        "better": "higher",
    }
