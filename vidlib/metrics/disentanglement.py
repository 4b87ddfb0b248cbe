"""How well a Method's appearance and motion codes come apart, measured with judges.

None of the papers measures disentanglement (G3AN: no general method exists); Shapes
and its judges make it measurable for every Method that names an ``appearance_code``
and a ``motion_code``.

**Swap grid** (``swap_grid``): ``A`` appearance codes × ``M`` motion codes, all other
codes of the Method held at one shared draw; cell ``(a, m)`` is the video of
appearance code ``a`` with motion code ``m``. Every video is judged; the scores below
use the judges' predicted labels ``y[a, m]``.

**Fleiss' kappa** of labels ``y`` over ``S`` subjects × ``R`` raters:
``kappa = (P - P_e) / (1 - P_e)`` with ``P`` the mean over subjects of the fraction of
rater pairs that agree and ``P_e = sum_k p_k^2`` (``p_k``: share of label ``k`` in
the whole grid), the agreement two cells drawn at random would have. 1: every subject
is constant and subjects differ; about 0: the subject explains no more than chance
(range ``[-1/(R-1), 1]``). When the grid holds a single label (``P_e = 1``) the code
controls nothing and kappa is set to 0.

- ``appearance_kept``: per judged appearance factor, kappa with the rows as subjects
  (appearance code fixed, motion codes vary), averaged over factors.
- ``action_kept``: kappa of the action with the columns as subjects (motion code
  fixed, appearance codes vary).
- ``motion_controls_action``: adjusted uncertainty coefficient of the action given the
  column, ``(I - I_0) / (H - I_0)`` with plug-in ``H = H(action)``,
  ``I = H - mean_m H(action | column m)`` and ``I_0`` the mean ``I`` over
  ``PERMUTATIONS`` random permutations of the labels (the estimator's bias at chance).
  1: the motion code alone decides the action; about 0: no more than chance; 0 when the
  grid holds a single action.

**Latent probes** (``leak_*``): ``n_probe`` joint draws of all codes are generated and
judged; a multinomial logistic regression (standardised inputs, L2 ``PROBE_L2``,
L-BFGS) is fitted on the first half and tested on the second. Codes that are not one
vector per video (e.g. per-frame sequences ``(n, T, d)``) are flattened to ``(n, T·d)``.
Leakage is the normalised held-out accuracy ``(acc - c) / (1 - c)``, ``c`` the accuracy
of always predicting the training half's most common label (0 when the label is
constant). ``leak_motion_to_appearance``: motion code -> each judged appearance factor,
averaged; ``leak_appearance_to_action``: appearance code -> action. 0: no linearly
decodable leak (lower is better); the entry's ``own_code`` is the same probe from the
code that should decide the label, showing what the probe can find. A linear probe
misses non-linear leaks.

Every entry records ``n_appearance``, ``n_motion`` (or ``n_probe``), ``seed``, the
judges' protocol and their test accuracy, and ``better`` ("higher" or "lower").

``code_effect`` (judge-free): ``code_effect(method, key)`` draws ``n`` reference codes,
redraws only ``codes[key]`` and returns the mean absolute pixel change on the [0, 1]
scale, E|G(c) − G(c')|. An appearance code that changes nothing, or a motion code that
changes nothing, shows up as an effect near 0. It measures control, not *what* is
controlled.

``judged_change`` says what: for each named part of the codes (``redraw(key)``, or any
function of the kept and a second draw, e.g. one time step of a sequence), the
fraction of ``n`` clips whose judged label of each factor changes when only that part
is redrawn. Its ``chance`` row, ``1 - sum_k p_k^2`` with ``p`` the label shares of the
kept draw, is what a part that alone decides the factor gives: two independent clips
then differ with that probability. 0: the part does not move the factor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

import torch
import torch.nn.functional as F
from einops import rearrange

from vidlib.method import Method, eval_mode
from vidlib.metrics.judges import Judges, cpu_threads

CODE_EFFECT_PROTOCOL = (
    "code_effect: mean |G(c) - G(c with codes[key] redrawn)| on the [0,1] scale"
)
PROTOCOLS = {
    "appearance_kept": "Fleiss kappa of judged appearance over swap-grid rows "
    "(appearance code fixed, motion codes vary), mean over factors",
    "action_kept": "Fleiss kappa of judged action over swap-grid columns "
    "(motion code fixed, appearance codes vary)",
    "motion_controls_action": "permutation-adjusted uncertainty coefficient "
    "(I - I0) / (H - I0) of judged action given the swap-grid column",
    "leak_motion_to_appearance": "held-out accuracy of a linear probe from the motion "
    "code to judged appearance, (acc - chance) / (1 - chance), mean over factors",
    "leak_appearance_to_action": "held-out accuracy of a linear probe from the "
    "appearance code to the judged action, (acc - chance) / (1 - chance)",
}
PERMUTATIONS = 20
PROBE_L2 = 1e-2
GENERATE_CHUNK = 64


@torch.no_grad()
def code_effect(method: Method, key: str, n: int, seed: int) -> float:
    """Mean absolute pixel change when only ``codes[key]`` is redrawn (n pairs)."""
    codes = method.codes(n, torch.Generator().manual_seed(seed))
    other = method.codes(n, torch.Generator().manual_seed(seed + 1))
    changed = redraw(key)(codes, other)
    before, after = method.generate(codes), method.generate(changed)
    return ((before - after).abs().float().mean() / 2).item()


Redraw = Callable[[dict[str, torch.Tensor], dict[str, torch.Tensor]], dict]


def redraw(key: str) -> Redraw:
    """The part of ``judged_change`` that takes ``codes[key]`` from the second draw."""

    def part(codes: dict, other: dict) -> dict:
        if key not in codes:
            known = sorted(codes)
            raise KeyError(f"code {key!r} is not one of the method's codes {known}")
        return dict(codes, **{key: other[key]})

    return part


@torch.no_grad()
def judged_change(
    method: Method,
    judges: Judges,
    n: int,
    seed: int,
    parts: Mapping[str, Redraw] | None = None,
) -> dict[str, dict[str, float]]:
    """Per part (default: the Method's appearance and motion codes), the fraction of
    ``n`` clips, generated in eval mode, whose judged label of each factor changes
    when ``parts[name](codes, other)`` replaces the codes; plus ``chance``."""
    parts = code_parts(method) if parts is None else parts
    gen = torch.Generator().manual_seed(seed)
    codes, other = method.codes(n, gen), method.codes(n, gen)
    changes = {}
    with eval_mode(method):
        before = _judged(method, judges, codes)
        for name, part in parts.items():
            after = _judged(method, judges, part(codes, other))
            changes[name] = {
                k: (after[k] != y).float().mean().item() for k, y in before.items()
            }
    changes["chance"] = {
        k: 1 - (torch.bincount(v).float() / len(v)).square().sum().item()
        for k, v in before.items()
    }
    return changes


def code_parts(method: Method) -> dict[str, Redraw]:
    """``judged_change``'s parts for a Method's appearance and motion codes."""
    return {key: redraw(key) for key in _code_keys(method)}


def _code_keys(method: Method) -> tuple[str, str]:
    a_key = getattr(method, "appearance_code", None)
    m_key = getattr(method, "motion_code", None)
    if a_key is None or m_key is None:
        raise ValueError(
            f"{type(method).__name__} has appearance_code={a_key!r} and "
            f"motion_code={m_key!r}; a swap grid needs both"
        )
    return a_key, m_key


def grid_codes(
    method: Method, n_appearance: int, n_motion: int, seed: int
) -> dict[str, torch.Tensor]:
    """Codes of the swap grid, cells in row-major order (cell ``a * M + m``).

    Row ``a`` carries appearance code ``a`` of one draw of ``n_appearance``, column
    ``m`` motion code ``m`` of a second draw; every other code is one shared draw (so
    e.g. MoCoGAN's categorical ``z_A``, when enabled, is the same in the whole grid).
    """
    a_key, m_key = _code_keys(method)
    gen = torch.Generator().manual_seed(seed)
    rows = method.codes(n_appearance, gen)
    missing = {a_key, m_key} - set(rows)
    if missing:
        raise KeyError(
            f"{type(method).__name__}.codes() returned {sorted(rows)}, without the "
            f"declared appearance/motion code(s) {sorted(missing)}"
        )
    cols = method.codes(n_motion, gen)
    shared = method.codes(1, gen)
    a_index = torch.arange(n_appearance).repeat_interleave(n_motion)
    m_index = torch.arange(n_motion).repeat(n_appearance)
    pick = {a_key: (rows, a_index), m_key: (cols, m_index)}
    out = {}
    for key in rows:
        source, index = pick.get(key, (shared, torch.zeros_like(a_index)))
        out[key] = source[key][index.to(source[key].device)]
    return out


def _chunks(codes: dict[str, torch.Tensor]) -> Iterator[dict[str, torch.Tensor]]:
    n = len(next(iter(codes.values())))
    for start in range(0, n, GENERATE_CHUNK):
        yield {k: v[start : start + GENERATE_CHUNK] for k, v in codes.items()}


@torch.no_grad()
def swap_grid(
    method: Method, n_appearance: int, n_motion: int, seed: int
) -> torch.Tensor:
    """Videos ``(A, M, C, T, H, W)``: row ``a`` keeps appearance code ``a``, column
    ``m`` keeps motion code ``m`` (see ``grid_codes``)."""
    codes = grid_codes(method, n_appearance, n_motion, seed)
    videos = torch.cat([method.generate(c) for c in _chunks(codes)])
    return rearrange(videos, "(a m) c t h w -> a m c t h w", a=n_appearance)


@torch.no_grad()
def _judged(method: Method, judges: Judges, codes: dict) -> dict[str, torch.Tensor]:
    """Judges' predicted labels ``(n,)`` of the videos of ``codes``, chunk by chunk."""
    parts = [judges.predict(method.generate(c)) for c in _chunks(codes)]
    return {k: torch.cat([p[k].cpu() for p in parts]) for k in parts[0]}


def fleiss_kappa(labels: torch.Tensor) -> dict[str, float]:
    """Fleiss' kappa of integer ``labels (S subjects, R raters)``; ``P``, ``P_e``."""
    s, r = labels.shape
    counts = F.one_hot(labels.long()).sum(dim=1).double()  # (S, K)
    agree = ((counts * (counts - 1)).sum(dim=1) / (r * (r - 1))).mean().item()
    p = counts.sum(dim=0) / (s * r)
    chance = (p * p).sum().item()
    kappa = (agree - chance) / (1 - chance) if chance < 1 - 1e-12 else 0.0
    return {"kappa": kappa, "agreement": agree, "chance": chance}


def _entropy(labels: torch.Tensor) -> float:
    p = torch.bincount(labels).double()
    p = p[p > 0] / labels.numel()
    return float(-(p * p.log()).sum())


def _mutual_information(labels: torch.Tensor) -> float:
    """Plug-in ``H(y) - mean_m H(y | column m)`` of ``labels (rows, columns)``, nats."""
    conditional = sum(_entropy(col) for col in labels.T) / labels.shape[1]
    return _entropy(labels.flatten()) - conditional


def uncertainty_coefficient(labels: torch.Tensor, seed: int) -> dict[str, float]:
    """Permutation-adjusted ``(I - I0) / (H - I0)`` of labels given their column."""
    h, mi = _entropy(labels.flatten()), _mutual_information(labels)
    gen = torch.Generator().manual_seed(seed)
    flat = labels.flatten()
    i0 = (
        sum(
            _mutual_information(
                flat[torch.randperm(flat.numel(), generator=gen)].view_as(labels)
            )
            for _ in range(PERMUTATIONS)
        )
        / PERMUTATIONS
    )
    value = (mi - i0) / (h - i0) if h - i0 > 1e-9 else 0.0
    return {
        "coefficient": value,
        "mi_nats": mi,
        "entropy_nats": h,
        "mi_chance_nats": i0,
    }


def probe_leakage(
    codes: torch.Tensor, labels: torch.Tensor, iterations: int = 100
) -> dict[str, float]:
    """Held-out normalised accuracy of a linear probe ``codes (n, ...) -> labels (n,)``.

    Fitted on the first half, tested on the second: ``(acc - c) / (1 - c)``.
    """
    x = codes.detach().float().cpu().flatten(1)
    y = labels.long().cpu()
    half = len(x) // 2
    x_train, y_train, x_test, y_test = x[:half], y[:half], x[half:], y[half:]
    mean, std = x_train.mean(dim=0), x_train.std(dim=0).clamp_min(1e-6)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    majority = torch.bincount(y_train).argmax()
    chance = (y_test == majority).double().mean().item()
    n_classes = int(y.max()) + 1
    weight = torch.zeros(x.shape[1] + 1, n_classes, requires_grad=True)
    opt = torch.optim.LBFGS(
        [weight], max_iter=iterations, line_search_fn="strong_wolfe"
    )

    def logits(inputs: torch.Tensor) -> torch.Tensor:
        return inputs @ weight[:-1] + weight[-1]

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(logits(x_train), y_train)
        loss = loss + PROBE_L2 * weight[:-1].pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad(), cpu_threads(1):  # tiny: a second thread only waits
        opt.step(closure)
    with torch.no_grad():
        accuracy = (logits(x_test).argmax(dim=1) == y_test).double().mean().item()
    value = (accuracy - chance) / (1 - chance) if chance < 1 else 0.0
    return {"leakage": value, "accuracy": accuracy, "chance": chance}


def _unavailable(reason: str, judges: Judges) -> dict[str, dict]:
    return {
        f"{name}_{judges.protocol}": {
            "value": None,
            "protocol": protocol,
            "unavailable": reason,
        }
        for name, protocol in PROTOCOLS.items()
    }


def disentanglement_scores(
    method: Method,
    judges: Judges,
    *,
    n_appearance: int = 16,
    n_motion: int = 16,
    n_probe: int = 512,
    seed: int = 0,
) -> dict[str, dict]:
    """Metric entries ``{name_<judges.protocol>: {"value", "protocol", ...}}``.

    See the module docstring for each score. A Method without an appearance or a
    motion code gets ``value None`` and ``"unavailable"``, as do the appearance scores
    when the judges' config has no appearance factor with more than one value.
    """
    try:
        a_key, m_key = _code_keys(method)
    except ValueError as error:
        return _unavailable(str(error), judges)
    common = {
        "seed": seed,
        "judges": judges.protocol,
        **{f"judge_accuracy_{k}": v for k, v in judges.accuracy.items()},
    }
    grid = {"n_appearance": n_appearance, "n_motion": n_motion, **common}
    probe = {"n_probe": n_probe, **common}
    labels = _judged(method, judges, grid_codes(method, n_appearance, n_motion, seed))
    table = {k: v.view(n_appearance, n_motion) for k, v in labels.items()}
    codes = method.codes(n_probe, torch.Generator().manual_seed(seed + 1))
    sampled = _judged(method, judges, codes)

    factors = judges.factors

    def appearance_kept() -> dict:
        kappas = {f: fleiss_kappa(table[f])["kappa"] for f in factors}
        return {
            "value": sum(kappas.values()) / len(kappas),
            **{f"kappa_{f}": k for f, k in kappas.items()},
        }

    def action_kept() -> dict:
        stats = fleiss_kappa(table["action"].T)
        return {"value": stats.pop("kappa"), **stats}

    def motion_controls_action() -> dict:
        stats = uncertainty_coefficient(table["action"], seed)
        actions = int(table["action"].unique().numel())
        return {"value": stats.pop("coefficient"), "actions_seen": actions, **stats}

    def leak_motion_to_appearance() -> dict:
        leaks = {f: probe_leakage(codes[m_key], sampled[f]) for f in factors}
        own = [probe_leakage(codes[a_key], sampled[f])["leakage"] for f in factors]
        return {
            "value": sum(v["leakage"] for v in leaks.values()) / len(leaks),
            "own_code": sum(own) / len(own),
            **{f"leakage_{f}": v["leakage"] for f, v in leaks.items()},
        }

    def leak_appearance_to_action() -> dict:
        stats = probe_leakage(codes[a_key], sampled["action"])
        own = probe_leakage(codes[m_key], sampled["action"])["leakage"]
        return {"value": stats.pop("leakage"), "own_code": own, **stats}

    scores: dict[str, Callable[[], dict]] = {
        "appearance_kept": appearance_kept,
        "action_kept": action_kept,
        "motion_controls_action": motion_controls_action,
        "leak_motion_to_appearance": leak_motion_to_appearance,
        "leak_appearance_to_action": leak_appearance_to_action,
    }
    out = {}
    for name, score in scores.items():
        extra = probe if name.startswith("leak") else grid
        better = "lower" if name.startswith("leak") else "higher"
        entry = {"protocol": PROTOCOLS[name], "better": better, **extra}
        if not factors and name in ("appearance_kept", "leak_motion_to_appearance"):
            entry |= {
                "value": None,
                "unavailable": "the judges' config has no appearance factor with "
                "more than one value",
            }
        else:
            entry |= score()
        out[f"{name}_{judges.protocol}"] = entry
    return out
