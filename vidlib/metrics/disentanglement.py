"""How much each code of a Method controls its videos (a first, judge-free measure).

``code_effect(method, key)`` draws ``n`` reference codes, redraws only ``codes[key]``
and returns the mean absolute pixel change on the [0, 1] scale, E|G(c) − G(c')|. An
appearance code that changes nothing, or a motion code that changes nothing, shows up
as an effect near 0. It measures control, not *what* is controlled; the judges of the
evaluation chapter tell whether the appearance code keeps the action and vice versa.
"""

from __future__ import annotations

import torch

from vidlib.train import Method

CODE_EFFECT_PROTOCOL = (
    "code_effect: mean |G(c) - G(c with codes[key] redrawn)| on the [0,1] scale"
)


@torch.no_grad()
def code_effect(method: Method, key: str, n: int, seed: int) -> float:
    """Mean absolute pixel change when only ``codes[key]`` is redrawn (n pairs)."""
    codes = method.codes(n, torch.Generator().manual_seed(seed))
    if key not in codes:
        raise KeyError(f"code {key!r} is not one of the method's codes {sorted(codes)}")
    other = method.codes(n, torch.Generator().manual_seed(seed + 1))
    changed = dict(codes, **{key: other[key]})
    before, after = method.generate(codes), method.generate(changed)
    return ((before - after).abs().float().mean() / 2).item()
