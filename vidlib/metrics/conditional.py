"""Conditional generation judged: does a clip show the category it was asked for?

G3AN's conditional model (Sec. 4.3.2 of the paper) takes a category (an action) as a
code. :func:`conditional_accuracy` draws ``n`` codes with ``seed``, asks for a category
drawn uniformly from ``categories`` (the global label indices the model was trained
on), generates every clip with the nets in eval mode and returns the share whose
judged label (``judges.predict(videos)[factor]``) is the asked category. Chance is
``1 / len(categories)``.

The other scores of G3AN's manipulation figures, each a metric entry:
:func:`category_swap_scores` (Fig. 8: the category changes, does the judged
appearance stay?), :func:`motion_variety_scores` (Fig. 7: one appearance and category,
many motion codes: is the category kept and how much do the clips differ?) and
:func:`appearance_addition_scores` (Fig. 11: does ``G(a0 + a1, m0)`` keep the judged
action of ``G(a0, m0)``?).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from vidlib.method import Method, eval_mode
from vidlib.metrics.disentanglement import _chunks, _judged, fleiss_kappa
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
    category_key: str = "category",
) -> dict[str, Any]:
    """The metric entry ``{"value", "protocol", "n", "chance", "better"}`` (see the
    module docstring); ``method.codes`` must hold an integer ``category_key`` code
    (G3AN: ``"category"``, MoCoGAN: ``"z_A"``)."""
    if not categories:
        raise ValueError("conditional_accuracy: categories is empty")
    codes = method.codes(n, torch.Generator().manual_seed(seed))
    if category_key not in codes:
        raise ValueError(
            f"conditional_accuracy: {type(method).__name__}.codes() has no "
            f"{category_key!r} code (codes: {sorted(codes)}); is the model conditional?"
        )
    used = torch.tensor(list(categories))
    asked = used[codes[category_key].cpu() % len(used)]
    with eval_mode(method):
        videos = method.generate({**codes, category_key: asked})
    judged = judges.predict(videos)[factor].cpu()
    return {
        "value": (judged == asked).float().mean().item(),
        "protocol": CONDITIONAL_PROTOCOL.format(factor=factor),
        "n": n,
        "chance": 1 / len(used),
        "better": "higher",
    }


CATEGORY_SWAP_PROTOCOL = (
    "Fleiss kappa of judged appearance ({factors}) over {n} draws of the other codes "
    "(subjects) x every trained category (raters): the category alone changes; "
    "mean over factors"
)
MOTION_SPREAD_PROTOCOL = (
    "mean pairwise Euclidean distance of judge clip features between clips that share "
    "the appearance code ({appearance}) and the category and differ only in the motion "
    "code ({motion}); mean over {groups} groups of {per_group}"
)
CATEGORY_KEPT_PROTOCOL = (
    "share of clips whose judged {factor} is the asked category, {groups} groups of "
    "{per_group} motion codes ({motion}) per fixed appearance code and category"
)
ADDITION_PROTOCOL = (
    "share of n pairs (a0, m0), (a1, m1) whose judged action of G(a0 + a1, m0) equals "
    "that of G(a0, m0)"
)


def _code_key(method: Method, name: str) -> str:
    key = getattr(method, name, None)
    if key is None:
        raise ValueError(f"{type(method).__name__} has no {name} (got {key!r})")
    return key


def _require(codes: dict, key: str, method: Method, what: str) -> None:
    if key not in codes:
        raise ValueError(
            f"{what}: {type(method).__name__}.codes() has no {key!r} code "
            f"(codes: {sorted(codes)})"
        )


@torch.no_grad()
def category_swap_scores(
    method: Method,
    judges: Judges,
    categories: Sequence[int],
    n: int,
    seed: int,
    category_key: str = "category",
) -> dict[str, Any]:
    """Does the category leave the appearance alone (Fig. 8 of G3AN)?

    ``n`` draws of every code (seed ``seed``) are the subjects; each is generated once
    per category of ``categories`` (the raters; only ``codes[category_key]``
    changes). The judged appearance factors (``judges.factors``) of the ``n × K``
    clips give one Fleiss' kappa per factor (subjects × categories; see
    :func:`vidlib.metrics.disentanglement.fleiss_kappa`): 1 when each draw keeps its
    judged shape and colour under every category and draws differ, about 0 when the
    category decides the appearance as much as the other codes. ``value`` is their
    mean; ``agreement_<factor>`` is the share of category pairs of one draw whose
    judged factor agrees, ``all_kept_<factor>`` the share of draws whose factor is the
    same under every category, ``values_seen_<factor>`` how many values were judged
    (with one, kappa is 0 by convention and says nothing: read ``all_kept``).
    """
    if len(categories) < 2:
        raise ValueError("category_swap_scores needs at least two categories")
    factors = judges.factors
    if not factors:
        raise ValueError(f"judges {judges.protocol} judge no appearance factor")
    codes = method.codes(n, torch.Generator().manual_seed(seed))
    _require(codes, category_key, method, "category_swap_scores")
    k = len(categories)
    swapped = {key: value.repeat_interleave(k, dim=0) for key, value in codes.items()}
    asked = torch.tensor(list(categories)).repeat(n)
    swapped[category_key] = asked.to(codes[category_key].device)
    with eval_mode(method):
        labels = _judged(method, judges, swapped)
    entry: dict[str, Any] = {}
    kappas = {}
    for f in factors:
        table = labels[f].view(n, k)
        stats = fleiss_kappa(table)
        kappas[f] = stats["kappa"]
        entry[f"kappa_{f}"] = stats["kappa"]
        entry[f"agreement_{f}"] = stats["agreement"]
        entry[f"values_seen_{f}"] = int(table.unique().numel())
        entry[f"all_kept_{f}"] = (
            (table == table[:, :1]).all(dim=1).float().mean().item()
        )
    return {
        "value": sum(kappas.values()) / len(kappas),
        "protocol": CATEGORY_SWAP_PROTOCOL.format(factors=", ".join(factors), n=n),
        **entry,
        "n": n,
        "categories": " ".join(map(str, categories)),
        "seed": seed,
        "judges": judges.protocol,
        "better": "higher",
    }


def _pairwise_mean(features: torch.Tensor) -> float:
    """Mean Euclidean distance over the distinct pairs of rows of ``(m, D)``."""
    m = features.shape[0]
    distances = torch.cdist(features.double()[None], features.double()[None])[0]
    return (distances.sum() / (m * (m - 1))).item()


@torch.no_grad()
def motion_variety_scores(
    method: Method,
    judges: Judges,
    categories: Sequence[int],
    groups: int,
    per_group: int,
    seed: int,
    category_key: str = "category",
    factor: str = "action",
) -> dict[str, dict[str, Any]]:
    """One category performed in different ways (Fig. 7 of G3AN).

    ``groups`` groups, each one appearance code and one category (cycled through
    ``categories``) with ``per_group`` motion codes (``method.motion_code``); every
    other code is the group's draw. Returns two entries:

    - ``category_kept``: share of the ``groups × per_group`` clips whose judged
      ``factor`` is the group's category (chance ``1 / len(categories)``);
    - ``motion_spread``: the mean pairwise Euclidean distance of judge clip features
      (``judges.features``) inside a group, averaged over groups; ``reference`` is the
      same spread when the appearance code is redrawn as well (category still fixed),
      and ``ratio`` their quotient. 0 means the motion code changes nothing the judges
      see. A spread, not a count of distinct motions.
    """
    if per_group < 2:
        raise ValueError(
            "motion_variety_scores needs at least two motion codes a group"
        )
    a_key = _code_key(method, "appearance_code")
    m_key = _code_key(method, "motion_code")
    gen = torch.Generator().manual_seed(seed)
    base = method.codes(groups, gen)
    _require(base, category_key, method, "motion_variety_scores")
    motions = method.codes(groups * per_group, gen)
    others = method.codes(groups * per_group, gen)
    used = torch.tensor(list(categories))
    asked = used[torch.arange(groups) % len(used)].repeat_interleave(per_group)
    fixed = {
        key: value.repeat_interleave(per_group, dim=0) for key, value in base.items()
    }
    fixed[category_key] = asked.to(base[category_key].device)
    fixed[m_key] = motions[m_key]
    free_a = dict(fixed, **{a_key: others[a_key]})
    with eval_mode(method):
        runs = {}
        for name, codes in (("fixed", fixed), ("free", free_a)):
            feats, labels = [], []
            for chunk in _chunks(codes):
                f, logits = judges.judge(method.generate(chunk))
                feats.append(f.cpu())
                labels.append(logits[factor].argmax(dim=1).cpu())
            runs[name] = (torch.cat(feats), torch.cat(labels))
    spreads = {
        name: sum(_pairwise_mean(f) for f in feats.view(groups, per_group, -1)) / groups
        for name, (feats, _) in runs.items()
    }
    words = dict(
        groups=groups,
        per_group=per_group,
        appearance=a_key,
        motion=m_key,
        factor=factor,
    )
    common = {
        "groups": groups,
        "per_group": per_group,
        "seed": seed,
        "judges": judges.protocol,
    }
    return {
        "category_kept": {
            "value": (runs["fixed"][1] == asked).float().mean().item(),
            "protocol": CATEGORY_KEPT_PROTOCOL.format(**words),
            "chance": 1 / len(used),
            **common,
            "better": "higher",
        },
        "motion_spread": {
            "value": spreads["fixed"],
            "protocol": MOTION_SPREAD_PROTOCOL.format(**words),
            "reference": spreads["free"],
            "ratio": spreads["fixed"] / spreads["free"] if spreads["free"] else None,
            **common,
        },
    }


@torch.no_grad()
def appearance_addition_scores(
    method: Method, judges: Judges, n: int, seed: int
) -> dict[str, Any]:
    """Appearance addition keeps the motion (Fig. 11 of G3AN).

    Two draws of ``n`` codes (seed ``seed``): ``(a0, m0)`` and ``(a1, m1)``, every
    other code from the first draw. ``value`` is the share of pairs whose judged action
    of ``G(a0 + a1, m0)`` equals that of ``G(a0, m0)``. For scale: ``other_appearance``
    is the same share for ``G(a1, m0)`` (a drawn appearance code instead of the sum)
    and ``other_motion`` for ``G(a0, m1)`` (what a changed motion gives).
    """
    a_key = _code_key(method, "appearance_code")
    m_key = _code_key(method, "motion_code")
    gen = torch.Generator().manual_seed(seed)
    first, second = method.codes(n, gen), method.codes(n, gen)
    variants = {
        "base": first,
        "sum": dict(first, **{a_key: first[a_key] + second[a_key]}),
        "other_appearance": dict(first, **{a_key: second[a_key]}),
        "other_motion": dict(first, **{m_key: second[m_key]}),
    }
    with eval_mode(method):
        action = {k: _judged(method, judges, c)["action"] for k, c in variants.items()}

    def kept(name: str) -> float:
        return (action[name] == action["base"]).float().mean().item()

    return {
        "value": kept("sum"),
        "protocol": ADDITION_PROTOCOL,
        "other_appearance": kept("other_appearance"),
        "other_motion": kept("other_motion"),
        "n": n,
        "seed": seed,
        "judges": judges.protocol,
        "better": "higher",
    }
