"""NAVS: latent tables, projections, gradient routing, resume, action-exchange split,
a finished run loaded back."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch.utils.data import default_collate

from vidlib.data.cells import action_exchange_split
from vidlib.data.shapes import ShapesConfig, ShapesVideos
from vidlib.data.spec import table_rows
from vidlib.experiment import run_experiment
from vidlib.losses import triplet_loss
from vidlib.method import load_trained
from vidlib.metrics.navs import item_rows
from vidlib.models.navs import (
    NAVS,
    WHOLE_DATASET,
    NAVSConfig,
    low_rank,
    project_unit_ball,
    sample_triplets,
)
from vidlib.record import RecordError, parse_record
from vidlib.train import TrainConfig, fit, seed_everything

SHAPES = ShapesConfig(
    resolution=16,
    frames=6,
    shapes=("circle", "square"),
    colors=("red", "blue"),
    backgrounds=("black",),
    actions=("right", "up"),
)


def tiny(**overrides) -> NAVS:
    base = dict(
        num_static=12,
        num_transient=12,
        dim_z_static=4,
        dim_z_transient=5,
        rnn_hidden=6,
        frames=6,
        resolution=16,
        ngf=4,
        pyramid_levels=2,
        lr_net=1e-3,
        lr_latent=5.0,
        triplet_window=1,
        triplet_margin=0.5,
    )
    return NAVS(NAVSConfig(**{**base, **overrides}))


def batch_of(indices: list[int], size: int = 12) -> dict:
    data = ShapesVideos(SHAPES, size=size)
    return default_collate([data[i] for i in indices])


def test_paper_size_shapes_and_parameter_counts() -> None:
    method = NAVS(NAVSConfig(num_static=9, num_transient=10))
    codes = method.codes(2, torch.Generator().manual_seed(0))
    assert codes["z_s"].shape == (2, 56) and codes["z_t"].shape == (2, 16, 200)
    assert method.generate(codes).shape == (2, 3, 16, 64, 64)
    gru = 3 * (500 * 200 + 500 * 500 + 2 * 500)  # W_ih, W_hh, b_ih, b_hh
    read_out = 500 * 200 + 200
    assert sum(p.numel() for p in method.nets["R"].parameters()) == gru + read_out
    assert method.nets["Z_t"].weight.shape == (10, 16 * 200)


def test_unit_ball_projection() -> None:
    z = torch.tensor([[3.0, 4.0], [0.3, 0.4], [0.0, 0.0]])
    projected = project_unit_ball(z)
    assert torch.allclose(projected[0], torch.tensor([0.6, 0.8]))
    assert torch.equal(projected[1:], z[1:])  # inside the ball: unchanged


def test_rank_projection_has_rank_rho_and_is_the_best_approximation() -> None:
    z = torch.randn(3, 8, 6, generator=torch.Generator().manual_seed(0))
    for rho in (1, 2, 5):
        approx = low_rank(z, rho)
        assert (torch.linalg.matrix_rank(approx) == rho).all()
        singular = torch.linalg.svdvals(z)
        residual = torch.linalg.matrix_norm(z - approx) ** 2
        assert torch.allclose(residual, (singular[:, rho:] ** 2).sum(-1), rtol=1e-4)
    assert torch.allclose(low_rank(z, 6), z, atol=1e-5)


def test_every_latent_vector_is_in_the_unit_ball_and_rank_rho_after_a_step() -> None:
    torch.manual_seed(0)
    method = tiny(rank=2, lr_latent=100.0)
    batch = batch_of([0, 3, 5, 7])
    method.train_step(batch, 0)
    z_t = method.nets["Z_t"].weight.view(12, 6, 5)
    assert (z_t.norm(dim=-1) <= 1 + 1e-5).all()
    assert (method.nets["Z_s"].weight.norm(dim=-1) <= 1 + 1e-5).all()
    touched = torch.tensor([0, 3, 5, 7])
    assert (torch.linalg.matrix_rank(z_t[touched], atol=1e-5) == 2).all()
    assert method.nets["Z_t"].seen.nonzero()[:, 0].tolist() == [0, 3, 5, 7]


def test_triplets_respect_the_window() -> None:
    video, anchor, pos, neg = sample_triplets(3, 6, 2, torch.Generator().manual_seed(0))
    assert len(video) == 3 * 6  # every frame of a 6-frame clip has a frame > 2 away
    assert ((anchor - pos).abs() <= 2).all() and (anchor != pos).all()
    assert ((anchor - neg).abs() > 2).all()
    assert len(sample_triplets(2, 3, 2)[0]) == 0  # too short for negatives


def test_triplet_gradient_reaches_only_the_transient_side() -> None:
    torch.manual_seed(0)
    method = tiny()
    terms = method.loss_terms(batch_of([0, 1, 2, 3]), fit_generator=False)
    assert terms["triplet"] > 0
    nets = method.nets
    params = {
        "G": list(nets["G"].parameters()),
        "Z_s": [nets["Z_s"].weight],
        "R": list(nets["R"].parameters()),
        "Z_t": [nets["Z_t"].weight],
    }
    flat = [p for group in params.values() for p in group]
    grads = torch.autograd.grad(terms["triplet"], flat, allow_unused=True)
    by_name, i = {}, 0
    for name, group in params.items():
        by_name[name] = grads[i : i + len(group)]
        i += len(group)
    assert all(g is None for g in by_name["G"] + by_name["Z_s"])
    (z_t_grad,) = by_name["Z_t"]
    assert z_t_grad.to_dense().abs().sum() > 0
    assert all(g is not None for g in by_name["R"])


def test_stage_one_moves_only_the_generator_and_stage_two_only_latents_and_rnn():
    torch.manual_seed(0)
    method = tiny()
    nets = method.nets
    before = {n: [p.clone() for p in net.parameters()] for n, net in nets.items()}
    batch = batch_of([0, 1, 2, 3])
    stage1 = method.loss_terms(batch, fit_generator=True)
    method.opts["G"].zero_grad()
    method.objective(stage1).backward()
    assert all(
        p.grad is None for n in ("R", "Z_s", "Z_t") for p in nets[n].parameters()
    )
    method.train_step(batch, 0)
    for name, net in nets.items():
        assert any(
            not torch.equal(a, b)
            for a, b in zip(before[name], net.parameters(), strict=True)
        )


def test_stage_two_leaves_the_generator_unchanged() -> None:
    """Eq. (3): γ moves in stage 1 only. G's weights and gradients right after the
    stage-1 step equal those after the whole step (stage 2 neither steps G nor adds
    to its gradient); θ and the latents move in stage 2. G's BatchNorm running
    statistics are buffers, not γ: the stage-2 forward in train mode updates them."""
    torch.manual_seed(0)
    method = tiny()
    nets, opts = method.nets, method.opts
    g_before = [p.clone() for p in nets["G"].parameters()]
    after_stage1: dict[str, list[torch.Tensor]] = {}
    g_step = opts["G"].step

    def step_and_snapshot(*args, **kwargs):
        out = g_step(*args, **kwargs)
        assert not after_stage1, "G's optimiser stepped twice in one train_step"
        after_stage1["weights"] = [p.detach().clone() for p in nets["G"].parameters()]
        after_stage1["grads"] = [p.grad.clone() for p in nets["G"].parameters()]
        others = {n: [p.clone() for p in nets[n].parameters()] for n in ("R", "Z_t")}
        after_stage1["others"] = [p for ps in others.values() for p in ps]
        return out

    opts["G"].step = step_and_snapshot
    method.train_step(batch_of([0, 1, 2, 3]), 0)
    g_after = list(nets["G"].parameters())
    assert any(not torch.equal(a, b) for a, b in zip(g_before, g_after, strict=True))
    for a, b in zip(after_stage1["weights"], g_after, strict=True):
        assert torch.equal(a, b)
    for a, p in zip(after_stage1["grads"], g_after, strict=True):
        assert torch.equal(a, p.grad)
    rest = [p for n in ("R", "Z_t") for p in nets[n].parameters()]
    assert all(
        not torch.equal(a, b) for a, b in zip(after_stage1["others"], rest, strict=True)
    )


def test_linear_output_has_no_tanh_and_samples_stay_in_range() -> None:
    method = tiny(output="linear")
    assert not any(isinstance(m, torch.nn.Tanh) for m in method.nets["G"].modules())
    with torch.no_grad():
        for p in method.nets["G"].parameters():
            p.mul_(50)  # outputs far outside [-1, 1] before the clamp
        videos = method.generate(method.codes(2, torch.Generator().manual_seed(0)))
    assert videos.abs().max() <= 1 and (videos.abs() == 1).any()


def same_triplets_for_every_video(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``sample_triplets`` draw one fixed set of triplets and give it to every
    video of the batch: the random draws then do not depend on the batch size."""
    import vidlib.models.navs as navs

    original = navs.sample_triplets

    def fixed(batch, frames, window, gen=None):
        seeded = torch.Generator().manual_seed(0)
        _, anchor, pos, neg = original(1, frames, window, seeded)
        video = torch.arange(batch).repeat_interleave(len(anchor))
        return video, anchor.repeat(batch), pos.repeat(batch), neg.repeat(batch)

    monkeypatch.setattr(navs, "sample_triplets", fixed)


def test_a_latent_step_does_not_depend_on_the_batch_size(monkeypatch) -> None:
    """Eq. (3.2) is SGD on each video's own loss (the official code: one video per
    step), so a latent row moves as far in a batch of 8 as alone. The networks are
    frozen here (lr_net = 0, G's BatchNorm on its running statistics), so that the
    other 7 videos cannot reach video 0's latents through γ's stage-1 step or through
    batch statistics; only the latent rate is left to differ."""
    same_triplets_for_every_video(monkeypatch)
    torch.manual_seed(0)
    start = {n: tiny().nets[n].weight.detach().clone() for n in ("Z_s", "Z_t")}

    def row_steps(indices: list[int]) -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        method = tiny(lr_net=0.0)
        method.nets["G"].eval()
        torch.manual_seed(1)  # ℓ_static's random frames: batch 1's is a prefix of 8's
        method.train_step(batch_of(indices), 0)
        return {n: method.nets[n].weight[0] - start[n][0] for n in start}

    alone, shared = row_steps([0]), row_steps([0, 1, 2, 3, 4, 5, 6, 7])
    for name in ("Z_s", "Z_t"):
        assert alone[name].abs().max() > 1e-3  # the row moved
        torch.testing.assert_close(shared[name], alone[name], rtol=1e-4, atol=1e-6)


def test_the_networks_keep_the_batch_mean(monkeypatch) -> None:
    """γ's and θ's gradients in ``train_step`` are those of Eq. (6) averaged over the
    batch (only the latents' step is per video): recomputed on a copy taken before
    the step, G's after stage 1 and R's in stage 2 (on G after its step)."""
    same_triplets_for_every_video(monkeypatch)
    batch = batch_of([0, 1, 2, 3, 4, 5, 6, 7])
    torch.manual_seed(0)
    method = tiny()
    before = copy.deepcopy(method)
    torch.manual_seed(1)
    method.train_step(batch, 0)
    nets = method.nets

    torch.manual_seed(1)  # train_step's random frames, stage 1 then stage 2
    g = list(before.nets["G"].parameters())
    mean = before.objective(before.loss_terms(batch, fit_generator=True))
    for p, want in zip(
        nets["G"].parameters(), torch.autograd.grad(mean, g), strict=True
    ):
        torch.testing.assert_close(p.grad, want)
    before.nets["G"].load_state_dict(nets["G"].state_dict())
    r = list(before.nets["R"].parameters())
    mean = before.objective(before.loss_terms(batch, fit_generator=False))
    for p, want in zip(
        nets["R"].parameters(), torch.autograd.grad(mean, r), strict=True
    ):
        torch.testing.assert_close(p.grad, want)


def test_minus_z_keeps_the_random_latents() -> None:
    torch.manual_seed(0)
    method = tiny(optimise_latents=False)
    z = method.nets["Z_t"].weight.clone()
    method.train_step(batch_of([0, 1, 2, 3]), 0)
    assert torch.equal(z, method.nets["Z_t"].weight)
    assert "Z" not in method.opts


def test_random_latents_are_table_4a_minus_z_and_leave_training_alone(
    tmp_path: Path,
) -> None:
    """``sample_latents="random"`` draws new unit-ball latents, none of them a learned
    row, and trains the very same weights as ``"learned"`` (it is read only when
    sampling, so the −Z run pairs with the main run)."""
    data = ShapesVideos(SHAPES, size=12)
    runs = {}
    for latents in ("learned", "random"):
        seed_everything(0)
        runs[latents] = tiny(sample_latents=latents)
        fit(runs[latents], data, run_config(tmp_path / latents, 4))
    for name, net in runs["learned"].nets.items():
        for key, value in net.state_dict().items():
            assert torch.equal(value, runs["random"].nets[name].state_dict()[key])
    gen = torch.Generator().manual_seed(3)
    learned = runs["learned"].codes(64, gen)
    random = runs["random"].codes(64, torch.Generator().manual_seed(3))
    assert random["z_s"].shape == learned["z_s"].shape == (64, 4)
    assert random["z_t"].shape == learned["z_t"].shape == (64, 6, 5)
    for key, table in (("z_s", "Z_s"), ("z_t", "Z_t")):
        rows = runs["random"].nets[table].weight.view(-1, *random[key].shape[1:])
        assert random[key].norm(dim=-1).max() <= 1 + 1e-6
        assert not any(torch.equal(z, row) for z in random[key] for row in rows)
        assert any(torch.equal(learned[key][0], row) for row in rows)
    again = runs["random"].codes(64, torch.Generator().manual_seed(3))
    assert all(torch.equal(random[k], again[k]) for k in random)
    # and it names the same trained weights: checkpoint config and training key
    assert runs["random"].config == runs["learned"].config
    record = parse_record(tiny_record())
    minus_z = record.replace({"model.sample_latents": "random"})
    assert minus_z.model["sample_latents"] == "random"
    assert minus_z.training_key() == record.training_key()
    assert record.replace({"model.ngf": 8}).training_key() != record.training_key()


def test_bad_input_is_refused_with_clear_errors() -> None:
    method = tiny(num_static=4, num_transient=4)
    with pytest.raises(IndexError, match=r"index \[5, 7\] outside the latent table"):
        method.train_step(batch_of([0, 5, 7, 1]), 0)
    with pytest.raises(ValueError, match="rank ρ must be in"):
        NAVSConfig(num_static=1, num_transient=1, frames=16, dim_z_transient=8, rank=9)
    with pytest.raises(ValueError, match="output must be one of"):
        NAVSConfig(num_static=1, num_transient=1, output="sigmoid")
    with pytest.raises(ValueError, match="sample_latents must be one of"):
        NAVSConfig(num_static=1, num_transient=1, sample_latents="gaussian")
    with pytest.raises(KeyError, match="no key 'identity'"):
        tiny(static_key="identity").train_step(batch_of([0, 1]), 0)


def test_action_exchange_split_and_its_errors() -> None:
    ids = [("circle", "red", "black"), ("square", "blue", "black")]
    train, held = action_exchange_split(SHAPES, ids, ["right", "up"], [(0, 1)])
    assert train.cells == [(0, 0), (1, 0), (1, 1)] and held.cells == [(0, 1)]
    item = held[0]
    assert (item["shape"], item["color"], item["action"]) == (0, 0, 2)
    same_id = action_exchange_split(SHAPES, ids, ["right", "up"], [])[0]
    assert same_id[0]["size"] == same_id[1]["size"]
    with pytest.raises(ValueError, match=r"no training video for identities"):
        action_exchange_split(SHAPES, ids, ["right", "up"], [(0, 0), (0, 1)])
    with pytest.raises(ValueError, match=r"no training video for actions \['up'\]"):
        action_exchange_split(SHAPES, ids, ["right", "up"], [(0, 1), (1, 1)])


def run_config(out_dir: Path, steps: int) -> TrainConfig:
    return TrainConfig(
        out_dir=str(out_dir),
        steps=steps,
        batch_size=4,
        checkpoint_every=3,
        sample_every=100,
        num_samples=2,
        log_every=1,
        progress=False,
    )


def test_resume_restores_latent_tables_bit_identically(tmp_path: Path) -> None:
    data = ShapesVideos(SHAPES, size=12)

    def build() -> NAVS:
        seed_everything(0)
        return tiny(rank=3)

    straight = build()
    fit(straight, data, run_config(tmp_path / "straight", 7))
    interrupted = build()
    fit(interrupted, data, run_config(tmp_path / "split", 3))
    resumed = build()
    torch.manual_seed(999)
    assert fit(resumed, data, run_config(tmp_path / "split", 7)).status == "resumed"
    for name, net in straight.nets.items():
        for key, value in net.state_dict().items():
            assert torch.equal(value, resumed.nets[name].state_dict()[key]), (name, key)
    assert straight.nets["Z_s"].seen.any()


def tiny_record(**train) -> dict:
    return {
        "data": {
            "resolution": 16,
            "frames": 6,
            "shapes": ["circle", "square"],
            "colors": ["red", "blue"],
            "backgrounds": ["black"],
            "actions": ["right", "up"],
            "size": 8,
        },
        "model": {
            "name": "navs",
            "transient_key": "action",
            "dim_z_static": 4,
            "dim_z_transient": 5,
            "rnn_hidden": 6,
            "ngf": 4,
            "pyramid_levels": 2,
            "triplet_window": 1,
        },
        "train": {"steps": 3, "batch_size": 4, "progress": False, **train},
        "eval": {"metrics": ["mfd"], "num": 4},
    }


def test_load_trained_rebuilds_a_finished_run(tmp_path: Path) -> None:
    spec = parse_record(tiny_record())
    assert (spec.model["num_static"], spec.model["num_transient"]) == (8, 6)
    exp = run_experiment(spec, tmp_path, slug="navs")
    loaded, step, results = load_trained(tmp_path)
    assert step == 3 and results["record"]["model"]["num_static"] == 8
    for name, net in exp.method.nets.items():
        for key, value in net.state_dict().items():
            assert torch.equal(value, loaded.nets[name].state_dict()[key]), (name, key)
    assert loaded.nets["Z_s"].seen.any()

    low = run_experiment(spec.replace({"model.rank": 2}), tmp_path, start_from=exp)
    assert low.train_dir.name.endswith(f"-from-{spec.training_key()}-step3")
    z_t = low.method.nets["Z_t"].weight.view(6, 6, 5)[low.method.nets["Z_t"].seen]
    assert (torch.linalg.matrix_rank(z_t, atol=1e-5) <= 2).all()


def test_one_static_row_for_the_whole_dataset_trains(tmp_path: Path) -> None:
    """The paper's Chair-CAD/Golf layout: one static latent for the training set and a
    transient latent per video (``static_key: dataset``, ``transient_key: index``)."""
    record = tiny_record()
    record["model"] |= {"static_key": "dataset", "transient_key": "index"}
    spec = parse_record(record)
    assert (spec.model["num_static"], spec.model["num_transient"]) == (1, 8)
    assert table_rows(spec.data, WHOLE_DATASET) == 1  # the data and the model agree
    exp = run_experiment(spec, tmp_path, slug="navs")
    z_s, z_t = exp.method.nets["Z_s"], exp.method.nets["Z_t"]
    assert z_s.rows == 1 and z_s.seen.all()
    assert z_t.rows == 8 and z_t.seen.sum() > 1
    static, transient = item_rows(exp.method, exp.data, range(len(exp.data)))
    assert static == [0] * 8 and transient == list(range(8))
    log = exp.fitted.scalars
    assert log and all(torch.isfinite(torch.tensor(row["rec"])) for row in log)


def test_bad_table_keys_are_refused_with_clear_errors() -> None:
    with pytest.raises(
        ValueError, match="static_key='dataset' indexes one row.*num_static must be 1"
    ):
        NAVSConfig(num_static=4, num_transient=4, static_key="dataset")
    with pytest.raises(ValueError, match="transient_key must name an item key"):
        NAVSConfig(num_static=1, num_transient=1, transient_key="")
    record = tiny_record()
    record["model"]["static_key"] = "identiy"
    with pytest.raises(
        RecordError,
        match=r"model.num_static: the items of dataset 'shapes' have no key"
        r" 'identiy'; a latent table can be indexed by one of dataset, shape,",
    ):
        parse_record(record)
    record["model"] |= {"static_key": "dataset", "num_static": 3}
    with pytest.raises(RecordError, match="num_static must be 1"):
        parse_record(record)


def test_without_normalisation_scaling_r_meets_the_triplet_condition() -> None:
    """Issue 13, item 3: the official code compares unsquared distances of a
    batch-normalised r (BatchNorm1d over the frames, affine=False), where a margin of 2
    is a fixed scale. Here r = W·GRU(z^(t)) + b is not normalised, and with the paper's
    squared distances ℓ_triplet(c·r) = max(c²(d_ap − d_an) + α, 0): every triplet whose
    order is already right is met by growing r, whatever α is. Normalising r over the
    frames removes the scale, and with it this way out."""
    torch.manual_seed(0)
    method = tiny(num_static=1, num_transient=2)
    r = method.nets["R"](method.nets["Z_t"](torch.tensor([0, 1]))).detach()
    video, anchor, pos, neg = sample_triplets(2, 6, 1, torch.Generator().manual_seed(0))
    a, p, n = r[video, anchor], r[video, pos], r[video, neg]
    ordered = (a - p).pow(2).sum(-1) < (a - n).pow(2).sum(-1)
    assert ordered.any()
    a, p, n = a[ordered], p[ordered], n[ordered]
    margin = 2.0
    losses = [triplet_loss(c * a, c * p, c * n, margin).item() for c in (1, 10, 1e3)]
    assert losses[0] > 0 and losses[0] > losses[1] > losses[2] == 0.0

    def normalised(x: torch.Tensor) -> torch.Tensor:  # BatchNorm1d over frames
        return (x - x.mean(dim=1, keepdim=True)) / (x.std(dim=1, keepdim=True) + 1e-5)

    scaled = [normalised(c * r) for c in (1, 10, 1e3)]
    kept = [
        triplet_loss(s[video, anchor], s[video, pos], s[video, neg], margin)
        for s in scaled
    ]
    assert kept[0] > 0 and torch.allclose(torch.stack(kept), kept[0], rtol=1e-3)


class RightCircles:
    """Judges that see every clip as a circle moving right."""

    protocol = "fake"
    factors = ("shape",)

    def predict(self, videos: torch.Tensor) -> dict[str, torch.Tensor]:
        n = len(videos)
        return {
            "action": torch.zeros(n, dtype=torch.long),
            "shape": torch.zeros(n).long(),
        }


def test_an_exchange_run_scores_its_held_out_cells(tmp_path: Path) -> None:
    """The ``exchange`` metric of a run on ``shapes-cells`` data: the judges' agreement
    with each set's cells (held-out cells from the test split, generated and ground
    truth; training cells), here judges that always say "circle, right", so each value
    is the share of that set's cells that are circles or move right; on other data it
    is unavailable, with why."""
    values = tiny_record()
    values["data"] |= {
        "dataset": "shapes-cells",
        "options": {
            "identities": [
                ["circle", "red", "black"],
                ["square", "blue", "black"],
                ["circle", "blue", "black"],
            ],
            "heldout": [[0, 1]],
        },
    }
    values["model"] |= {"static_key": "identity", "transient_key": "action_row"}
    values["eval"] = {"metrics": ["exchange"], "num": 4}
    exp = run_experiment(values, tmp_path / "cells", judges=RightCircles())
    shape = ["circle", "square", "circle"]  # of each identity
    train = [(0, "right"), (1, "right"), (1, "up"), (2, "right"), (2, "up")]
    cells = {
        "held_out_cells_NAVS": [(0, "up")],
        "held_out_cells_ground_truth": [(0, "up")],
        "training_cells_NAVS": train,
    }
    for name, shown in cells.items():
        for key in ("action", "shape"):
            got = exp.metrics[f"exchange_{name}_{key}_accuracy"]
            right = [
                (a == "right") if key == "action" else (shape[i] == "circle")
                for i, a in shown
            ]
            want = sum(right) / len(shown)
            assert got["value"] == pytest.approx(want) and got["n"] == len(shown)
    plain = tiny_record()
    plain["eval"] = {"metrics": ["exchange"], "num": 4}
    entry = run_experiment(plain, tmp_path / "plain", judges=RightCircles()).metrics
    assert entry["exchange"]["value"] is None
    assert "needs shapes-cells data" in entry["exchange"]["unavailable"]
