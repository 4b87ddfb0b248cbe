"""TGAN: paper-size counts, shapes, the z_0 code keys, WGAN updates, singular value
clipping and its schedule, bad configs (exact resume: tests/test_train.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vidlib.method import method_classes, sample
from vidlib.models import tgan
from vidlib.models.tgan import (
    TGAN,
    TGANConfig,
    clip_batchnorm_scale,
    clip_singular_values,
    singular_value_clipping,
)

TINY = dict(dim_z=4, frames=4, resolution=16, ngf=4, ndf=4)


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def small(**overrides) -> TGAN:
    torch.manual_seed(0)
    return TGAN(TGANConfig(**{**TINY, **overrides}))


def videos(n: int = 4, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 4, 16, 16, generator=gen) * 2 - 1


def top_singular_value(weight: torch.Tensor) -> float:
    """‖Ŵ‖₂ of the weight as the paper reshapes it, N_out × (N_in·∏k)."""
    return torch.linalg.matrix_norm(weight.reshape(weight.shape[0], -1), ord=2).item()


def test_paper_size_parameter_counts_match_the_layer_shapes() -> None:
    """K = 100, 64×64×16, ngf = ndf = 64 (reference §8: 0.83 M, 3.62 M, 11.03 M)."""
    with torch.device("meta"):
        method = TGAN()
    g0, g1, d = method.nets["G"].g0, method.nets["G"].g1, method.nets["D"]
    # G0: ConvT1d k1 then k4 (weights + biases), BN γ and β
    g0_convs = 100 * 512 + 4 * (512 * 256 + 256 * 128 + 128 * 128 + 128 * 100)
    g0_biases = 512 + 256 + 128 + 128 + 100
    assert count(g0) == g0_convs + g0_biases + 2 * (512 + 256 + 128 + 128) == 826_468
    # G1: two bias-free linears to 256×4×4 with BN over 4096 features, bias-free
    # ConvT k4 to 256, 128, 64, 32 (BN), ConvT k3 to 3 with a bias
    g1_linear = 2 * (100 * 4096 + 2 * 4096)
    g1_convs = 16 * (512 * 256 + 256 * 128 + 128 * 64 + 64 * 32) + 9 * 32 * 3 + 3
    assert count(g1) == g1_linear + g1_convs + 2 * (256 + 128 + 64 + 32) == 3_622_691
    # D: Conv3d k4 with biases, BN from the second layer, Conv2d k4 to 1 with a bias
    d_convs = 64 * (3 * 64 + 64 * 128 + 128 * 256 + 256 * 512) + 64 + 128 + 256 + 512
    d_bn = 2 * (128 + 256 + 512)
    assert count(d) == d_convs + d_bn + 16 * 512 + 1 == 11_033_281
    rounded = [round(count(net) / 1e6, 2) for net in (g0, g1, d)]
    assert rounded == [0.83, 3.62, 11.03]


def test_paper_size_shapes_on_the_meta_device() -> None:
    with torch.device("meta"):
        method = TGAN()
    codes = method.codes(2)
    assert method.nets["G"].g0(codes["z_0_G0"]).shape == (2, 16, 100)  # 16 z_1^t
    video = method.generate(codes)
    assert video.shape == (2, 3, 16, 64, 64)
    assert method.nets["D"](video).shape == (2,)


def test_tiny_shapes_and_range_even_with_saturated_outputs() -> None:
    method = small()
    g = method.nets["G"]
    with torch.no_grad():  # push both tanh layers far into saturation
        g.g0.net[-2].weight.mul_(1e3)
        g.g1.net[-2].weight.mul_(1e3)
    codes = method.codes(3, torch.Generator().manual_seed(0))
    z_1 = g.g0(codes["z_0_G0"])
    assert z_1.shape == (3, 4, 4)
    video = method.generate(codes)
    assert video.shape == (3, 3, 4, 16, 16)
    for x in (z_1, video):
        assert x.abs().max() <= 1 and x.abs().max() > 0.99


def test_codes_share_z_0_and_g1_sees_it_on_every_frame() -> None:
    method = small()
    codes = method.codes(2, torch.Generator().manual_seed(0))
    assert torch.equal(codes["z_0"], codes["z_0_G0"])
    assert codes["z_0"].min() >= -1 and codes["z_0"].max() <= 1
    assert method.appearance_code == "z_0" and method.motion_code == "z_0_G0"
    g = method.nets["G"].eval()
    other = torch.rand(2, 4, generator=torch.Generator().manual_seed(1)) * 2 - 1
    video = method.generate({"z_0": codes["z_0"], "z_0_G0": other})
    z_1 = g.g0(other)  # the motion path follows "z_0_G0" alone
    for t in range(4):
        frame = g.g1(codes["z_0"], z_1[:, t])  # the slow branch follows "z_0"
        torch.testing.assert_close(video[:, :, t], frame)
    assert not torch.allclose(video, method.generate(codes))


def test_official_init() -> None:
    """G0 and D ~ N(0, 1/fan_in) (Chainer's LeCun normal), G1 ~ U(±0.01), biases 0."""
    torch.manual_seed(0)
    method = TGAN()
    g, d = method.nets["G"], method.nets["D"]
    big = d.trunk[-3].weight  # Conv3d 256 → 512, fan_in 256·4³
    assert big.std().item() == pytest.approx((256 * 64) ** -0.5, rel=0.01)
    deconv = g.g0.net[3].weight  # ConvT1d 512 → 256 k4: fan_in = 256·4, as Chainer
    assert deconv.std().item() == pytest.approx((256 * 4) ** -0.5, rel=0.02)
    for module in g.g1.modules():
        if isinstance(module, (nn.Linear, nn.ConvTranspose2d)):
            assert module.weight.abs().max() <= 0.01
            assert module.weight.abs().max() > 0.0099
    layers = (*tgan.LINEAR_LAYERS, nn.ConvTranspose1d, nn.ConvTranspose2d)
    biases = [m.bias for m in [*g.modules(), *d.modules()] if isinstance(m, layers)]
    biases = [b for b in biases if b is not None]
    assert len(biases) == 5 + 1 + 5  # G0's convs, G1's last conv, D's convs
    assert all(not b.any() for b in biases)


def test_torch_init_keeps_pytorchs_draws() -> None:
    torch.manual_seed(0)
    g1 = TGAN(TGANConfig(init="torch")).nets["G"].g1
    weights = [m.weight for m in g1.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert max(w.abs().max().item() for w in weights) > 0.01  # not U(±0.01)


def test_svc_bounds_every_layer_of_d_and_keeps_the_small_singular_values() -> None:
    method = small(ndf=8)
    d = method.nets["D"]
    weights = [m.weight for m in d.modules() if isinstance(m, tgan.LINEAR_LAYERS)]
    assert len(weights) == 3  # two Conv3d, the Conv2d head
    with torch.no_grad():
        for w in weights:
            w.mul_(10)
    before = [torch.linalg.svdvals(w.reshape(w.shape[0], -1)) for w in weights]
    assert all(s[0] > 1 for s in before)
    bn = d.trunk[3]  # the BN of the second Conv3d; running σ = 1
    assert isinstance(bn, nn.BatchNorm3d)
    with torch.no_grad():
        bn.weight.fill_(3.0)
    singular_value_clipping(d)
    assert torch.equal(bn.weight.detach(), torch.ones_like(bn.weight))
    for w, s in zip(weights, before, strict=True):
        after = torch.linalg.svdvals(w.reshape(w.shape[0], -1))
        assert top_singular_value(w) <= 1 + 1e-5
        torch.testing.assert_close(after, s.clamp(max=1), atol=1e-5, rtol=1e-5)

    # a 2×2 example: singular values (3, 0.5) become (1, 0.5), not (1, 1/6)
    torch.manual_seed(0)
    u, v = torch.linalg.qr(torch.randn(2, 2))[0], torch.linalg.qr(torch.randn(2, 2))[0]
    w = u @ torch.diag(torch.tensor([3.0, 0.5])) @ v.T
    clip_singular_values(w)
    expected = u @ torch.diag(torch.tensor([1.0, 0.5])) @ v.T
    torch.testing.assert_close(w, expected, atol=1e-6, rtol=1e-6)


def test_svc_leaves_a_weight_within_the_bound_unchanged() -> None:
    torch.manual_seed(0)
    w = torch.randn(8, 3, 4, 4, 4)
    w /= 2 * top_singular_value(w)  # ‖Ŵ‖₂ = 0.5
    before = w.clone()
    clip_singular_values(w)
    assert torch.equal(w, before)


def test_batchnorm_scale_is_clipped_to_a_hundredth_of_sigma_up_to_sigma() -> None:
    bn = nn.BatchNorm3d(4)
    with torch.no_grad():
        bn.running_var.copy_(torch.tensor([4.0, 4.0, 4.0, 0.25]))  # σ = 2, 2, 2, 0.5
        bn.weight.copy_(torch.tensor([0.001, 1.0, 3.0, -1.0]))
    clip_batchnorm_scale(bn)
    torch.testing.assert_close(
        bn.weight.detach(), torch.tensor([0.02, 1.0, 2.0, 0.005])
    )


def test_svc_follows_every_svc_every_th_iteration_counted_from_one(
    monkeypatch,
) -> None:
    method = small(svc_every=3)
    applied: list[int] = []
    step_now = 0
    monkeypatch.setattr(
        tgan, "singular_value_clipping", lambda net: applied.append(step_now)
    )
    batch = {"video": videos()}
    for step_now in range(10):
        method.train_step(batch, step_now)
    assert applied == [2, 5, 8]  # official iterations 3, 6, 9
    assert len(applied) == 3


def test_svc_every_step_leaves_d_within_the_bound() -> None:
    method = small(svc_every=1)
    method.train_step({"video": videos()}, 0)
    d = method.nets["D"]
    for module in d.modules():
        if isinstance(module, tgan.LINEAR_LAYERS):
            assert top_singular_value(module.weight) <= 1 + 1e-5


def test_train_step_reports_the_wgan_losses_of_its_critic_scores() -> None:
    method = small(ema_decay=0.5)
    scores: list[torch.Tensor] = []
    method.nets["D"].register_forward_hook(
        lambda _m, _inputs, out: scores.append(out.detach().clone())
    )
    before = {
        n: [p.clone() for p in net.parameters()] for n, net in method.nets.items()
    }
    scalars = method.train_step({"video": videos()}, 0)
    fake, real = scores  # one forward pass: fakes first, then reals (official order)
    assert scalars["d_video"] == pytest.approx((fake.mean() - real.mean()).item())
    assert scalars["g_video"] == pytest.approx(-fake.mean().item())
    for name, net in method.nets.items():
        moved = any(
            not torch.equal(a, b)
            for a, b in zip(before[name], net.parameters(), strict=True)
        )
        assert moved, name


def test_both_updates_use_the_gradients_at_the_same_scores() -> None:
    """G's step follows −E[D(G(z))] through the D *before* its own step: the G
    update equals RMSprop's first step (lr·g/(√(0.01·g²) + ε)) on that gradient."""
    method = small(svc_every=100)
    g = method.nets["G"]
    start = {n: p.detach().clone() for n, p in g.named_parameters()}
    torch.manual_seed(5)
    method.train_step({"video": videos()}, 0)
    g_after = {n: p.detach().clone() for n, p in g.named_parameters()}

    replay = small(svc_every=100)
    torch.manual_seed(5)
    codes = replay.codes(4)
    fake = replay._run(replay.nets["G"], codes)
    loss = -replay.nets["D"](fake).mean()
    grads = torch.autograd.grad(loss, list(replay.nets["G"].parameters()))
    for (name, p0), grad in zip(start.items(), grads, strict=True):
        step = 5e-5 * grad / ((0.01 * grad**2).sqrt() + 1e-8)
        torch.testing.assert_close(g_after[name], p0 - step, atol=1e-9, rtol=1e-5)


def test_sampling_with_an_ema_generator() -> None:
    method = small(ema_decay=0.5)
    method.train_step({"video": videos()}, 0)
    out = sample(method, 2, seed=0)
    assert out.shape == (2, 3, 4, 16, 16) and out.abs().max() <= 1


def test_registered_as_tgan() -> None:
    assert method_classes("tgan") == (TGAN, TGANConfig)
    assert small().config["model"] == "tgan"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(svc_every=0), r"svc_every must be >= 1, got 0"),
        (dict(frames=12), r"frames must be a power of two >= 2 .*got 12"),
        (dict(frames=8), r"frames must be resolution/4 = 16 at resolution 64"),
        (dict(resolution=48, frames=12), r"resolution must be a power of two >= 8"),
        (
            dict(loss="lsgan"),
            r"loss must be one of \('bce', 'hinge', 'wgan', 'minimax'\)",
        ),
        (dict(ngf=5), r"ngf must be an even number >= 2"),
        (dict(ema_decay=1.0), r"ema_decay must be in \[0, 1\)"),
        (dict(init="xavier"), r"init must be one of \('official', 'torch'\)"),
    ],
)
def test_bad_configs_name_the_field_and_the_allowed_values(overrides, message) -> None:
    with pytest.raises(ValueError, match=message):
        TGANConfig(**overrides)
