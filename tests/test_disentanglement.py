"""code_effect on hand-built methods; judge-based scores on the Shapes oracles."""

from __future__ import annotations

import pytest
import torch
from test_judges import SMOKE, SMOKE_STEPS

from vidlib.judging import load_judges
from vidlib.metrics.disentanglement import (
    code_effect,
    code_parts,
    disentanglement_scores,
    fleiss_kappa,
    grid_codes,
    judged_change,
    probe_leakage,
    redraw,
    swap_grid,
    uncertainty_coefficient,
)
from vidlib.metrics.judges import Judges
from vidlib.metrics.oracles import ShapesOracle


class OnlyAppearance:
    """Videos are the appearance code broadcast over time; ``m`` is ignored."""

    nets: dict = {}
    opts: dict = {}

    def codes(self, n: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        return {"a": torch.rand(n, 3, generator=gen) * 2 - 1, "m": torch.randn(n, 2)}

    def generate(self, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        return codes["a"][:, :, None, None, None].expand(-1, 3, 4, 2, 2)


def test_ignored_code_has_no_effect_and_used_code_has_its_expected_effect() -> None:
    method = OnlyAppearance()
    assert code_effect(method, "m", n=64, seed=0) == 0
    # a, a' ~ U(-1, 1): E|a - a'| / 2 = (2/3) / 2 = 1/3
    assert code_effect(method, "a", n=4096, seed=0) == pytest.approx(1 / 3, abs=0.02)


def test_unknown_code_is_named() -> None:
    with pytest.raises(KeyError, match=r"code 'z' is not one of the method's codes"):
        code_effect(OnlyAppearance(), "z", n=2, seed=0)
    codes = OnlyAppearance().codes(2, torch.Generator().manual_seed(0))
    with pytest.raises(KeyError, match=r"code 'z' is not one of the method's codes"):
        redraw("z")(codes, codes)


# ---------------------------------------------------------------- with judges

SCORES = (
    "appearance_kept",
    "action_kept",
    "motion_controls_action",
    "leak_motion_to_appearance",
    "leak_appearance_to_action",
)


@pytest.fixture(scope="session")
def judges(tmp_path_factory: pytest.TempPathFactory) -> Judges:
    """The smoke judges of test_judges.py (shared cache: trained once a session)."""
    cache = tmp_path_factory.getbasetemp() / "judges-cache"
    return load_judges(SMOKE, cache_dir=cache, steps=SMOKE_STEPS, progress=False)


def test_fleiss_kappa_matches_the_worked_example() -> None:
    """Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories,
    P = 0.378, P_e = 0.213, kappa = 0.210."""
    counts = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    labels = torch.tensor(
        [[k for k, n in enumerate(row) for _ in range(n)] for row in counts]
    )
    stats = fleiss_kappa(labels)
    assert stats["agreement"] == pytest.approx(0.378, abs=5e-4)
    assert stats["chance"] == pytest.approx(0.213, abs=5e-4)
    assert stats["kappa"] == pytest.approx(0.210, abs=5e-4)


def test_uncertainty_coefficient_is_one_when_the_column_decides() -> None:
    decided = torch.arange(8).repeat(8, 1) % 4  # (rows, columns): label = column % 4
    assert uncertainty_coefficient(decided, seed=0)["coefficient"] == pytest.approx(1)
    noise = torch.randint(4, (64, 16), generator=torch.Generator().manual_seed(0))
    assert abs(uncertainty_coefficient(noise, seed=0)["coefficient"]) < 0.05
    constant = torch.zeros(8, 8, dtype=torch.long)
    assert uncertainty_coefficient(constant, seed=0)["coefficient"] == 0


def test_probe_finds_a_linear_leak_and_no_leak_in_noise() -> None:
    gen = torch.Generator().manual_seed(0)
    codes = torch.randn(512, 6, generator=gen)
    assert probe_leakage(codes, codes[:, :3].argmax(dim=1))["leakage"] > 0.8
    unrelated = torch.randint(3, (512,), generator=gen)
    assert abs(probe_leakage(codes, unrelated)["leakage"]) < 0.1


def test_swap_grid_keeps_the_named_code_along_rows_and_columns() -> None:
    oracle = ShapesOracle(SMOKE)
    a, m = 4, 5
    codes = grid_codes(oracle, a, m, seed=3)
    cells = [
        oracle.factors({k: v[i : i + 1] for k, v in codes.items()})[0]
        for i in range(a * m)
    ]
    grid = [cells[r * m : (r + 1) * m] for r in range(a)]
    appearance = [[(f.shape, f.color, f.background) for f in row] for row in grid]
    motion = [[(f.action, f.speed, f.x0, f.y0, f.size) for f in row] for row in grid]
    assert all(len(set(row)) == 1 for row in appearance)  # row keeps appearance
    assert all(len({motion[r][c] for r in range(a)}) == 1 for c in range(m))
    assert len({row[0] for row in motion}) == 1
    assert len({motion[0][c] for c in range(m)}) == m  # columns differ
    videos = swap_grid(oracle, a, m, seed=3)
    assert videos.shape == (a, m, 3, SMOKE.frames, SMOKE.resolution, SMOKE.resolution)
    one = {k: v[2 * m + 4 : 2 * m + 5] for k, v in codes.items()}
    assert torch.equal(videos[2, 4], oracle.generate(one)[0])


def test_disentangled_oracle_scores_near_one_and_entangled_clearly_lower(
    judges: Judges,
) -> None:
    sizes = dict(n_appearance=12, n_motion=12, n_probe=384, seed=0)
    clean = disentanglement_scores(ShapesOracle(SMOKE), judges, **sizes)
    mixed = disentanglement_scores(
        ShapesOracle(SMOKE, entanglement=0.5), judges, **sizes
    )
    value = {
        name: (clean[f"{name}_{judges.protocol}"], mixed[f"{name}_{judges.protocol}"])
        for name in SCORES
    }
    for name in SCORES[:3]:  # higher is better
        good, bad = value[name]
        assert good["better"] == "higher" and good["n_motion"] == 12
        assert good["value"] > 0.9, name
        assert bad["value"] < good["value"] - 0.3, name
    for name in SCORES[3:]:  # leakage: lower is better
        good, bad = value[name]
        assert good["better"] == "lower" and good["n_probe"] == 384
        assert good["value"] < 0.1, name
        assert bad["value"] > good["value"] + 0.2, name
        assert good["own_code"] > 0.5, name  # the probe can read the right code


def test_judged_change_names_the_code_that_decides_each_factor(judges: Judges) -> None:
    oracle = ShapesOracle(SMOKE)
    parts = {**code_parts(oracle), "none": lambda c, o: c}
    assert list(parts) == ["z_a", "z_m", "none"]
    change = judged_change(oracle, judges, n=256, seed=0, parts=parts)
    assert change["none"] == {"action": 0.0, "shape": 0.0, "color": 0.0}
    default = judged_change(oracle, judges, n=256, seed=0)  # parts: code_parts
    assert default == {k: v for k, v in change.items() if k != "none"}
    labels = judges.predict(
        oracle.generate(oracle.codes(256, torch.Generator().manual_seed(0)))
    )
    for factor, label in labels.items():  # 1 - sum_k p_k^2, counted by hand
        shares = [(label == k).sum().item() / 256 for k in set(label.tolist())]
        assert change["chance"][factor] == pytest.approx(1 - sum(p * p for p in shares))
    # the oracle's action follows z_m alone, its shape and colour z_a alone
    assert change["z_m"]["action"] == pytest.approx(change["chance"]["action"], abs=0.1)
    assert change["z_a"]["action"] < 0.05
    for factor in ("shape", "color"):
        assert change["z_a"][factor] == pytest.approx(change["chance"][factor], abs=0.1)
        assert change["z_m"][factor] < 0.05


def test_method_without_a_motion_code_gets_unavailable_entries(judges: Judges) -> None:
    method = OnlyAppearance()
    method.appearance_code, method.motion_code = "a", None
    scores = disentanglement_scores(method, judges, n_appearance=2, n_motion=2)
    assert set(scores) == {f"{name}_{judges.protocol}" for name in SCORES}
    for entry in scores.values():
        assert entry["value"] is None
        assert "motion_code=None" in entry["unavailable"]
