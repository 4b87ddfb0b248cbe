"""The training loop: exact resume (a toy, MoCoGAN, VGAN, TGAN, AVLAE, RJGAN,
RMoCoGAN, DSA and RJVAE; weights, optimiser state and log), skip_if_done, NaN guard,
bad checkpoints."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from vidlib import checkpoint as ckpt
from vidlib.models.avlae import AVLAE, AVLAEConfig
from vidlib.models.dsa import DSA, DSAConfig
from vidlib.models.mocogan import MoCoGAN, MoCoGANConfig
from vidlib.models.residual import (
    RJGAN,
    RJVAE,
    RJGANConfig,
    RJVAEConfig,
    RMoCoGAN,
    RMoCoGANConfig,
)
from vidlib.models.tgan import TGAN, TGANConfig
from vidlib.models.vgan import VGAN, VGANConfig
from vidlib.train import (
    TrainConfig,
    batch_indices,
    channels_last_clips,
    compile_nets,
    draw_initial_weights,
    fit,
    fuse_adam,
    seed_everything,
    to_channels_last,
)


class NoiseVideos(Dataset):
    """Videos that are a pure function of their index (like every vidlib dataset)."""

    config = {"dataset": "noise", "size": 24}

    def __len__(self) -> int:
        return 24

    def __getitem__(self, index: int) -> dict:
        gen = torch.Generator().manual_seed(index)
        video = torch.rand(3, 4, 16, 16, generator=gen) * 2 - 1
        return {"video": video, "index": index, "action": index % 3}


class Regression:
    """A toy Method whose step uses the global RNG, like a GAN's noise draws."""

    appearance_code = "z"
    motion_code = None

    def __init__(
        self, lr: float = 0.01, blow_up_at: int | None = None, by: float = math.nan
    ) -> None:
        self.nets = {"G": nn.Linear(4, 3 * 4 * 16 * 16)}
        self.opts = {"G": torch.optim.Adam(self.nets["G"].parameters(), lr)}
        self.config = {"model": "regression", "lr": lr}
        self.blow_up_at, self.by = blow_up_at, by

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        z = torch.randn(batch["video"].shape[0], 4)
        loss = (self.generate({"z": z}) - batch["video"]).pow(2).mean()
        if step == self.blow_up_at:  # the loss becomes NaN or infinite
            loss = loss * self.by
        self.opts["G"].zero_grad()
        loss.backward()
        self.opts["G"].step()
        return {"loss": loss.item()}

    def codes(self, n: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        return {"z": torch.randn(n, 4, generator=gen)}

    def generate(self, codes: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.nets["G"](codes["z"]).view(-1, 3, 4, 16, 16).tanh()


def tiny_mocogan() -> MoCoGAN:
    cfg = MoCoGANConfig(
        dim_z_content=4,
        dim_z_motion=3,
        dim_z_category=3,
        frames=4,
        resolution=16,
        ngf=4,
        ndf=4,
        video_temporal_padding=1,
        loss="hinge",
        spectral_norm=True,
        ema_decay=0.9,
    )
    return MoCoGAN(cfg)


def tiny_vgan() -> VGAN:
    """EMA and a lazy R1 every second step, so resume must restore both."""
    sizes = dict(dim_z=4, frames=4, resolution=16, ngf=4, ndf=4)
    return VGAN(VGANConfig(**sizes, ema_decay=0.9, r1_gamma=0.1, r1_every=2))


def tiny_tgan() -> TGAN:
    """SVC after steps 1, 3, 5 (0-based): a run cut after step 2 must find the
    schedule from ``step`` and RMSprop's state in the checkpoint."""
    cfg = dict(dim_z=4, frames=4, resolution=16, ngf=4, ndf=4)
    return TGAN(TGANConfig(**cfg, svc_every=2, ema_decay=0.5))


RESIDUAL_SIZES = dict(frames=4, resolution=16, ngf=4, ndf=4, video_temporal_padding=1)


def tiny_rjgan() -> RJGAN:
    """Eq. (1)'s summary term and R1 on every second step, and an EMA."""
    terms = dict(summary_every=2, r1_gamma=0.1, r1_every=2, ema_decay=0.9)
    return RJGAN(RJGANConfig(**RESIDUAL_SIZES, dim_z=5, dim_eps=2, **terms))


def tiny_rmocogan() -> RMoCoGAN:
    cfg = RMoCoGANConfig(
        **RESIDUAL_SIZES, dim_z_content=4, dim_z_motion=3, ema_decay=0.9
    )
    return RMoCoGAN(cfg)


class PooledFlow(nn.Module):
    """A flow estimator of vidlib.flow's contract (stride 4): a fixed 1×1 conv of
    the pooled first frame and the pooled frame difference."""

    stride = 4

    def __init__(self) -> None:
        super().__init__()
        self.mix = nn.Conv2d(6, 2, 1)

    def forward(self, image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
        a, b = (F.avg_pool2d(x, self.stride) for x in (image1, image2))
        return self.stride * self.mix(torch.cat([a, b - a], dim=1))


def tiny_avlae() -> AVLAE:
    """Three steps per iteration on one optimiser per side, each drawing fresh codes
    and random frames, and an EMA: resume must restore all of them."""
    sizes = dict(dim_z=4, dim_w=4, frames=4, resolution=16, ngf=4, ndf=4)
    return AVLAE(AVLAEConfig(**sizes, ema_decay=0.9), PooledFlow())


VAE_SIZES = dict(
    frames=4, resolution=16, conv_width=4, fc_hidden=8, conv_dim=6, hidden=7
)


def tiny_dsa() -> DSA:
    """Reparameterised draws from the global RNG each step: resume must restore it."""
    return DSA(DSAConfig(dim_f=5, dim_z=3, **VAE_SIZES))


def tiny_rjvae() -> RJVAE:
    return RJVAE(RJVAEConfig(dim_z=5, sigma=0.5, **VAE_SIZES))


def config(out_dir: Path, steps: int, **overrides) -> TrainConfig:
    base = dict(
        out_dir=str(out_dir),
        steps=steps,
        batch_size=4,
        checkpoint_every=3,
        sample_every=100,
        num_samples=2,
        log_every=1,
        progress=False,
    )
    return TrainConfig(**{**base, **overrides})


def weights(method) -> dict[str, torch.Tensor]:
    return {
        f"{name}.{key}": value.clone()
        for name, net in method.nets.items()
        for key, value in net.state_dict().items()
    }


def build(make, seed: int = 0):
    seed_everything(seed)
    return make()


@pytest.mark.parametrize(
    "make",
    [
        Regression,
        tiny_mocogan,
        tiny_vgan,
        tiny_tgan,
        tiny_avlae,
        tiny_rjgan,
        tiny_rmocogan,
        tiny_dsa,
        tiny_rjvae,
    ],
    ids=[
        "toy",
        "mocogan",
        "vgan",
        "tgan",
        "avlae",
        "rjgan",
        "rmocogan",
        "dsa",
        "rjvae",
    ],
)
def test_resume_is_bit_identical_to_uninterrupted_run(tmp_path: Path, make) -> None:
    straight = build(make)
    fit(straight, NoiseVideos(), config(tmp_path / "straight", steps=7))

    interrupted = build(make)
    first = fit(interrupted, NoiseVideos(), config(tmp_path / "split", steps=3))
    assert first.status == "trained"
    resumed = build(make)  # a new process: fresh objects, fresh RNG
    torch.manual_seed(12345)
    second = fit(resumed, NoiseVideos(), config(tmp_path / "split", steps=7))
    assert second.status == "resumed"

    a, b = weights(straight), weights(resumed)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    for name, opt in straight.opts.items():
        theirs = resumed.opts[name].state_dict()["state"]
        for index, entry in opt.state_dict()["state"].items():
            for key, value in entry.items():
                assert torch.equal(value, theirs[index][key]), (name, index, key)
    log_straight = (tmp_path / "straight" / "scalars.jsonl").read_text()
    log_split = (tmp_path / "split" / "scalars.jsonl").read_text()
    assert log_straight == log_split


def test_a_compiled_fit_matches_the_eager_one_and_resumes_across_modes(
    tmp_path: Path,
) -> None:
    eager = build(Regression)
    fit(eager, NoiseVideos(), config(tmp_path / "eager", steps=6))
    compiled = build(Regression)
    fit(compiled, NoiseVideos(), config(tmp_path / "compiled", steps=3, compile=True))
    assert compiled.nets["G"]._compiled_call_impl is not None  # compiled in place
    resumed = build(Regression)  # the compiled run's checkpoint, continued eagerly
    second = fit(resumed, NoiseVideos(), config(tmp_path / "compiled", steps=6))
    assert second.status == "resumed"
    for key, value in weights(eager).items():
        torch.testing.assert_close(weights(resumed)[key], value, rtol=1e-5, atol=1e-6)


def test_compile_nets_keeps_an_r1_methods_discriminators_eager() -> None:
    method = tiny_mocogan()
    assert compile_nets(method) == ["G", "D_I", "D_V", "G_ema"]
    with_r1 = MoCoGAN(dataclasses.replace(method.cfg, r1_gamma=0.1))
    assert compile_nets(with_r1) == ["G", "G_ema"]
    assert with_r1.nets["D_V"]._compiled_call_impl is None
    keys = set(with_r1.nets["G"].state_dict())
    assert keys == set(MoCoGAN(with_r1.cfg).nets["G"].state_dict())  # loadable


def test_compile_nets_warns_and_compiles_nothing_where_it_cannot(monkeypatch) -> None:
    import torch._dynamo

    monkeypatch.setattr(torch._dynamo, "is_dynamo_supported", lambda: False)
    method = Regression()
    with pytest.warns(UserWarning, match="train.compile: TorchDynamo does not support"):
        assert compile_nets(method) == []
    assert method.nets["G"]._compiled_call_impl is None
    monkeypatch.undo()
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.warns(UserWarning, match="no C\\+\\+ compiler"):
        assert compile_nets(method) == []


def test_to_channels_last_converts_each_conv_by_its_rank_keeping_the_numbers() -> None:
    cfg = TGANConfig(dim_z=8, frames=4, resolution=16, ngf=4, ndf=4)  # D: 2-D and 3-D
    plain, other = build(lambda: TGAN(cfg)), build(lambda: TGAN(cfg))
    video = torch.rand(2, 3, 4, 16, 16) * 2 - 1
    assert to_channels_last(other)
    other_video = channels_last_clips({"video": video})["video"]
    assert other_video.is_contiguous(memory_format=torch.channels_last_3d)
    mixed = channels_last_clips({"videos": {"video": video}, "images": None})
    assert mixed["videos"]["video"].is_contiguous(memory_format=torch.channels_last_3d)
    found = set()
    for module in other.nets["D"].modules():
        for kind, rank_format in (
            (nn.Conv2d, torch.channels_last),
            (nn.Conv3d, torch.channels_last_3d),
        ):
            if isinstance(module, kind):
                found.add(kind)
                assert module.weight.is_contiguous(memory_format=rank_format)
    assert found == {nn.Conv2d, nn.Conv3d}  # the net holds both kinds
    outputs = []
    for method, clips in ((plain, video), (other, other_video)):
        for net in method.nets.values():
            net.eval()
        with torch.no_grad():
            codes = method.codes(2, torch.Generator().manual_seed(0))
            outputs.append((method.nets["D"](clips), method.generate(codes)))
    torch.testing.assert_close(*outputs, rtol=1e-4, atol=1e-5)


def test_a_channels_last_fit_trains_as_the_contiguous_one(tmp_path: Path) -> None:
    plain, other = build(tiny_mocogan), build(tiny_mocogan)  # D_V is 3-D
    fit(plain, NoiseVideos(), config(tmp_path / "plain", steps=3))
    fit(other, NoiseVideos(), config(tmp_path / "last", steps=3, channels_last=True))
    weight = next(p for p in other.nets["D_V"].parameters() if p.dim() == 5)
    assert weight.is_contiguous(memory_format=torch.channels_last_3d)
    for key, value in weights(plain).items():
        torch.testing.assert_close(weights(other)[key], value, rtol=1e-4, atol=1e-5)


def test_fuse_adam_steps_as_adam_does_also_from_an_unfused_state() -> None:
    # fit fuses on CUDA only; torch 2.13 also has the fused kernel for the CPU, where
    # the conversion of a run's existing optimiser state is tested
    items = [NoiseVideos()[i] for i in range(4)]
    batch = {
        "video": torch.stack([item["video"] for item in items]),
        "action": torch.tensor([item["action"] for item in items]),
    }
    plain, fused = build(tiny_mocogan), build(tiny_mocogan)
    for method in (plain, fused):
        torch.manual_seed(1)
        method.train_step(batch, 1)
    assert fuse_adam(fused) == ["G", "D_I", "D_V"]
    opt = fused.opts["G"]
    assert all(group["fused"] for group in opt.param_groups)
    steps = [opt.state[p]["step"] for p in opt.param_groups[0]["params"]]
    assert all(s.dtype == torch.float32 and s.item() == 1 for s in steps)
    for method in (plain, fused):
        torch.manual_seed(2)
        for step in (2, 3):
            method.train_step(batch, step)
    for key, value in weights(plain).items():
        torch.testing.assert_close(weights(fused)[key], value, rtol=1e-5, atol=1e-6)
    assert fuse_adam(Regression()) == ["G"]


def test_skip_if_done_loads_without_training(tmp_path: Path) -> None:
    trained = build(Regression)
    fit(trained, NoiseVideos(), config(tmp_path, steps=4))
    again = build(Regression, seed=99)
    result = fit(again, NoiseVideos(), config(tmp_path, steps=4))
    assert result.status == "loaded"
    assert result.step == 4
    for key, value in weights(trained).items():
        assert torch.equal(value, weights(again)[key])
    assert len(result.scalars) == 4


def test_stop_at_checkpoints_the_step_it_stops_at_and_resumes_exactly(
    tmp_path: Path,
) -> None:
    """A deadline already passed stops after one step, off the checkpoint schedule
    (every 3), with that step checkpointed; resuming to the end equals a run that
    never stopped."""
    straight = build(tiny_mocogan)
    fit(straight, NoiseVideos(), config(tmp_path / "straight", steps=5))
    stopped = build(tiny_mocogan)
    first = fit(
        stopped, NoiseVideos(), config(tmp_path / "split", steps=5), stop_at=0.0
    )
    assert (first.status, first.step) == ("stopped", 1)
    steps = [s for s, _ in ckpt.list_checkpoints(tmp_path / "split" / "checkpoints")]
    assert steps == [1]
    resumed = build(tiny_mocogan)
    second = fit(resumed, NoiseVideos(), config(tmp_path / "split", steps=5))
    assert (second.status, second.step) == ("resumed", 5)
    a, b = weights(straight), weights(resumed)
    assert all(torch.equal(a[key], b[key]) for key in a)


def test_checkpoints_count_the_steps_trained_on_each_device(tmp_path: Path) -> None:
    """A resumed run adds its steps to the device history of the checkpoint it
    resumed from: merged on the same device, a new entry on another (here a
    checkpoint written by an H200 before checkpoints kept the history)."""

    def payload(step: int) -> dict:
        path = tmp_path / "checkpoints" / f"step-{step:08d}.pt"
        return torch.load(path, weights_only=False)

    def train(steps: int, every: int) -> None:
        cfg = config(tmp_path, steps=steps, checkpoint_every=every)
        fit(build(Regression), NoiseVideos(), cfg)

    train(2, 2)
    assert payload(2)["devices"] == [["cpu", 2]]
    train(3, 1)
    assert payload(3)["devices"] == [["cpu", 3]]

    older = {k: v for k, v in payload(2).items() if k != "devices"}
    torch.save(
        {**older, "device": "NVIDIA H200"},
        tmp_path / "checkpoints" / "step-00000002.pt",
    )
    (tmp_path / "checkpoints" / "step-00000003.pt").unlink()
    train(5, 1)
    assert payload(5)["devices"] == [["NVIDIA H200", 2], ["cpu", 3]]
    assert payload(5)["device"] == "cpu"


def test_a_checkpoint_from_before_a_setting_existed_resumes_at_its_default(
    tmp_path: Path,
) -> None:
    """A checkpoint whose config lacks a model setting (written before the setting
    was added) resumes when the run has it at its default, the behaviour it trained
    with; at any other value, or for a setting with no default, it is refused and
    named."""
    fit(build(tiny_mocogan), NoiseVideos(), config(tmp_path, steps=2))
    path = tmp_path / "checkpoints" / "step-00000002.pt"
    payload = torch.load(path, weights_only=False)

    def drop(key: str) -> None:
        stored = dict(payload["config"])
        stored["method"] = {k: v for k, v in stored["method"].items() if k != key}
        chash = ckpt.config_hash(stored)
        torch.save({**payload, "config": stored, "config_hash": chash}, path)

    drop("image_upsample")  # tiny_mocogan keeps the default, "transposed"
    resumed = fit(build(tiny_mocogan), NoiseVideos(), config(tmp_path, steps=3))
    assert (resumed.status, resumed.step) == ("resumed", 3)

    (tmp_path / "checkpoints" / "step-00000003.pt").unlink()
    drop("ngf")  # tiny_mocogan's 4 is not the default
    with pytest.raises(
        ckpt.CheckpointError, match="method.ngf: checkpoint None, now 4"
    ):
        fit(build(tiny_mocogan), NoiseVideos(), config(tmp_path, steps=3))


def test_resume_truncates_log_past_the_checkpoint(tmp_path: Path) -> None:
    fit(build(Regression), NoiseVideos(), config(tmp_path, steps=4, checkpoint_every=2))
    (tmp_path / "checkpoints" / "step-00000004.pt").unlink()  # crash after step 4's log
    fit(build(Regression), NoiseVideos(), config(tmp_path, steps=4, checkpoint_every=2))
    lines = (tmp_path / "scalars.jsonl").read_text().splitlines()
    steps = [json.loads(line)["step"] for line in lines]
    assert steps == [1, 2, 3, 4]


def test_checkpoint_of_another_config_is_refused_and_kept(tmp_path: Path) -> None:
    fit(build(Regression), NoiseVideos(), config(tmp_path, steps=3))
    before = (tmp_path / "checkpoints" / "step-00000003.pt").read_bytes()
    with pytest.raises(
        ckpt.CheckpointError, match=r"method\.lr: checkpoint 0\.01, now 0\.1"
    ):
        fit(build(lambda: Regression(lr=0.1)), NoiseVideos(), config(tmp_path, steps=6))
    assert (tmp_path / "checkpoints" / "step-00000003.pt").read_bytes() == before


def test_checkpoint_of_another_model_is_refused(tmp_path: Path) -> None:
    fit(build(Regression), NoiseVideos(), config(tmp_path, steps=3))
    payload = ckpt.load_checkpoint(tmp_path / "checkpoints" / "step-00000003.pt")
    method = build(tiny_mocogan)
    method.config = payload["config"]["method"]  # same hash, different networks
    with pytest.raises(ckpt.CheckpointError, match="different model"):
        fit(method, NoiseVideos(), config(tmp_path, steps=6))


def test_checkpoint_loads_with_weights_only_and_holds_primitives(
    tmp_path: Path,
) -> None:
    fit(build(tiny_mocogan), NoiseVideos(), config(tmp_path, steps=3))
    payload = torch.load(
        tmp_path / "checkpoints" / "step-00000003.pt", weights_only=True
    )
    assert payload["step"] == 3
    assert set(payload["nets"]) == {"G", "G_ema", "D_I", "D_V"}
    json.dumps(payload["config"])  # primitives only
    assert payload["config_hash"] == ckpt.config_hash(payload["config"])


def test_training_leaves_samples_and_prunes_checkpoints(tmp_path: Path) -> None:
    fit(build(Regression), NoiseVideos(), config(tmp_path, steps=9, keep_checkpoints=2))
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "checkpoints")] == [6, 9]
    assert (tmp_path / "samples" / "step-00000009.gif").stat().st_size > 0
    assert (tmp_path / "samples" / "step-00000009.png").stat().st_size > 0


def test_keep_checkpoints_zero_keeps_every_one(tmp_path: Path) -> None:
    fit(build(Regression), NoiseVideos(), config(tmp_path, steps=9, keep_checkpoints=0))
    assert [s for s, _ in ckpt.list_checkpoints(tmp_path / "checkpoints")] == [3, 6, 9]
    with pytest.raises(ValueError, match="keep_checkpoints must be an int >= 0"):
        config(tmp_path, steps=9, keep_checkpoints=-1)


class Classifier:
    """Trains like a Method but has no codes or generate (as the judges)."""

    def __init__(self) -> None:
        self.nets = {"C": nn.Linear(3 * 4 * 16 * 16, 3)}
        self.opts = {"C": torch.optim.Adam(self.nets["C"].parameters())}
        self.config = {"model": "classifier"}

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        logits = self.nets["C"](batch["video"].flatten(1))
        loss = nn.functional.cross_entropy(logits, batch["action"])
        self.opts["C"].zero_grad()
        loss.backward()
        self.opts["C"].step()
        return {"loss": loss.item()}


def test_sample_every_zero_never_samples(tmp_path: Path) -> None:
    fit(build(Classifier), NoiseVideos(), config(tmp_path, steps=3, sample_every=0))
    assert ckpt.list_checkpoints(tmp_path / "checkpoints")[-1][0] == 3
    assert not (tmp_path / "samples").exists()


def test_asking_for_fewer_steps_than_trained_is_refused(tmp_path: Path) -> None:
    fit(build(Regression), NoiseVideos(), config(tmp_path, steps=6))
    with pytest.raises(ckpt.CheckpointError, match="trained to step 6 > steps=3"):
        fit(build(Regression), NoiseVideos(), config(tmp_path, steps=3))


def test_batches_cover_each_epoch_once_and_depend_only_on_seed_and_step() -> None:
    epoch = sorted(
        i for step in range(6) for i in batch_indices(24, 4, seed=1, step=step)
    )
    assert epoch == list(range(24))
    assert batch_indices(24, 4, 1, 7) == batch_indices(24, 4, 1, 7)
    assert batch_indices(24, 4, 1, 7) != batch_indices(24, 4, 2, 7)


def test_bad_train_config_is_refused() -> None:
    with pytest.raises(ValueError, match="TrainConfig.steps must be a positive int"):
        TrainConfig(out_dir="x", steps=0, batch_size=2)
    with pytest.raises(ValueError, match="sample_every must be an int >= 0"):
        TrainConfig(out_dir="x", steps=1, batch_size=2, sample_every=-1)


class MixedRegression(Regression):
    """Fits the video half of a mixed batch; records what each step received."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, int]] = []  # (videos, images) per step

    def train_step(self, batch: dict, step: int) -> dict[str, float]:
        videos, images = batch["videos"], batch["images"]
        assert images is None or images["video"].shape[2] == 1
        self.seen.append(
            tuple(0 if b is None else b["video"].shape[0] for b in (videos, images))
        )
        return super().train_step(videos, step) if videos else {"loss": 0.0}


def test_fit_batches_mixed_images_and_videos_with_the_datasets_collate(tmp_path):
    from vidlib.data.mixed import MixedImagesVideos

    method = MixedRegression()
    data = MixedImagesVideos(NoiseVideos(), image_fraction=0.5, seed=0)
    cfg = TrainConfig(out_dir=str(tmp_path), steps=3, batch_size=8, progress=False)
    fit(method, data, cfg)
    assert len(method.seen) == 3 and all(v + i == 8 for v, i in method.seen)
    assert sum(i for _, i in method.seen) > 0 and sum(v for v, _ in method.seen) > 0


HAND_BUILT_RUN = """
import sys
from tests.test_train import NoiseVideos, config, tiny_mocogan
from vidlib.train import fit
fit(tiny_mocogan(), NoiseVideos(), config(sys.argv[1], steps=1, seed=int(sys.argv[2])))
"""


def test_the_seed_fixes_a_hand_built_run_across_processes(tmp_path: Path) -> None:
    """The README's ``fit(method, data, TrainConfig(seed=...))`` with a Method built
    before any seeding: each new process starts torch from another random seed, so
    only ``fit`` drawing the initial weights from the seed makes two runs agree."""

    def run(name: str, seed: int) -> dict[str, torch.Tensor]:
        out = tmp_path / name
        subprocess.run(
            [sys.executable, "-c", HAND_BUILT_RUN, str(out), str(seed)],
            check=True,
            cwd=Path(__file__).parents[1],
        )
        return ckpt.load_checkpoint(ckpt.checkpoint_path(out / "checkpoints", 1))

    first, second, other = run("a", 3), run("b", 3), run("c", 4)
    assert_same_tree(first["nets"], second["nets"])
    assert_same_tree(first["opts"], second["opts"])
    assert not torch.equal(first["nets"]["G"][KEY], other["nets"]["G"][KEY])


def assert_same_tree(a: object, b: object, where: str = "") -> None:
    """Nested dicts/lists of tensors and numbers equal, bit for bit."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_same_tree(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_tree(x, y, f"{where}/{i}")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


KEY = "image.net.0.weight"  # a weight of the tiny MoCoGAN's G


def test_draw_initial_weights_replaces_given_weights() -> None:
    """What ``fit`` does at step 0 unless ``keep_weights`` (fine-tuning): the
    weights become those the seed draws, whatever the Method held."""
    tuned = tiny_mocogan()
    with torch.no_grad():
        for p in tuned.nets["G"].parameters():
            p.fill_(0.5)
    given = copy.deepcopy(tuned.nets["G"].state_dict())
    draw_initial_weights(tuned, seed=0)
    seed_everything(0)
    drawn = tiny_mocogan()
    assert_same_tree(tuned.nets["G"].state_dict(), drawn.nets["G"].state_dict())
    assert not torch.equal(given[KEY], tuned.nets["G"].state_dict()[KEY])
