"""Metric registry: names that carry their protocol; entries for ``write_results``.

``evaluate(names, fake, real=..., judges=..., weights=...)`` returns ``{name: {"value":
float | None, "protocol": str, "n_fake": int, "seed": int, ...}}``, with ``"better":
"lower"`` or ``"higher"`` where a direction is defined (not for ``mfd``, which should
be near the real clips'). Names:

==========================  ==========================================================
``fd_judge``                Fréchet distance of judge clip features, fake vs real; the
                            entry is named ``fd_<judges.protocol>``
``kd_judge``                kernel (KID-style) distance of the same features
                            (``kd_<judges.protocol>``)
``is_judge_<key>``          Inception Score of the judge's ``<key>`` softmax (``action``
                            or an appearance factor) over ``splits`` splits (a ``std``
                            only when there are more than one); also
                            ``hyx_judge_<key>`` H(y|x) and ``hy_judge_<key>`` H(y);
                            ``is_judge`` alone: the action and every judged factor
``fcs_navs_ssim``           NAVS frame consistency (SSIM to the first frame)
``mcs_navs_<phi>``          NAVS relative motion consistency with φ = ``pixels``,
                            ``judge`` (``Judges.frame_features``) or ``vgg16``
                            (relu3_3, needs weights)
``acd_shapes_colour``       MoCoGAN ACD with the shape's mean colour as descriptor
``mfd_pixels``              mean absolute frame difference
``fvd_i3d_<N>x<T>``         FVD: I3D logits, N fake and N real clips of T frames
                            (needs weights); for T < 16 (not FVD's protocol) the name
                            is ``fvd_i3d_<N>x<T>_tpool<w>`` with ``w`` the temporal
                            window of I3D's last pool actually used (1 for T <= 8,
                            where I3D's window of 2 does not fit)
``fid_resnext101_<N>x16``   G3AN/AVLAE "FID": 3D-ResNeXt-101 pool features of N fakes
                            vs the given real set (needs weights)
==========================  ==========================================================

A metric whose extractor has no weights file gets ``value: None`` and ``unavailable:
<reason>``. ``reference_rows`` scores real-vs-real, static, shuffled and noise videos.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from vidlib.metrics import consistency, extractors
from vidlib.metrics.frechet import (
    frechet_distance_from_stats,
    frechet_stats,
    kernel_distances,
)
from vidlib.metrics.inception import (
    conditional_entropy,
    inception_score,
    marginal_entropy,
)
from vidlib.metrics.judges import Judges
from vidlib.metrics.motion import (
    MFD_PROTOCOL,
    mean_frame_difference,
    shuffled_videos,
    static_videos,
)

KD_SUBSETS, KD_SUBSET_SIZE = 100, 1000
# the papers' split count: TGAN, TGANv2 and MoCoGAN (TGAN's code) use one split
# (reference §2); G3AN and NAVS state none. The entry has a std only for splits > 1.
IS_SPLITS = 1
CROSS_CHECK_MAX_DIM = 1024  # Newton–Schulz cross-check of the sqrtm up to this D
REFERENCE_ROWS = ("real_vs_real", "static", "shuffled", "noise")
Entry = dict[str, Any]


def _fd_entry(fake_feats: torch.Tensor, real_feats: torch.Tensor) -> Entry:
    a, b = frechet_stats(fake_feats, "fake features"), frechet_stats(real_feats, "real")
    value = frechet_distance_from_stats(a, b, "eigh")
    entry: Entry = {
        "value": value,
        "better": "lower",
        "feature_dim": int(a.mu.shape[0]),
        "rank_deficient": a.rank_deficient or b.rank_deficient,
    }
    if a.mu.shape[0] <= CROSS_CHECK_MAX_DIM:
        check = frechet_distance_from_stats(a, b, "newton_schulz")
        entry["sqrtm_newton_schulz"] = check
    return entry


def _kd_entry(fake_feats: torch.Tensor, real_feats: torch.Tensor, seed: int) -> Entry:
    values = kernel_distances(
        fake_feats,
        real_feats,
        subsets=KD_SUBSETS,
        subset_size=KD_SUBSET_SIZE,
        seed=seed,
    )
    size = min(KD_SUBSET_SIZE, len(fake_feats), len(real_feats))
    return {
        "value": float(values.mean()),
        "better": "lower",
        "std": float(values.std()),
        "subset_size": size,
    }


def _probs(judges: Judges, key: str, videos: torch.Tensor) -> torch.Tensor:
    if key == "action":
        logits = judges.action_logits(videos)
    elif key in judges.factors:
        logits = judges.appearance_logits(videos)[key]
    else:
        raise ValueError(
            f"judge key {key!r} is not 'action' or one of the judged factors "
            f"{judges.factors}"
        )
    return logits.double().softmax(dim=1).cpu()


def _unavailable(protocol: str, reason: str) -> Entry:
    return {"value": None, "protocol": protocol, "unavailable": reason}


def _standard(
    extractor: str,
    protocol: str,
    weights: Mapping[str, str | Path],
    compute: Callable[[Any], Entry],
) -> Entry:
    try:
        model = extractors.load_extractor(extractor, weights.get(extractor))
    except extractors.ExtractorUnavailable as e:
        return _unavailable(protocol, str(e))
    return {"protocol": protocol, **compute(model)}


class _Evaluation:
    """One call of ``evaluate``: caches judge features of the real set."""

    def __init__(self, fake, real, judges, seed, weights, real_cache=None) -> None:
        self.fake, self.real, self.judges, self.seed = fake, real, judges, seed
        self.weights = dict(weights or {})
        self._real_cache = {} if real_cache is None else real_cache
        self._fake_feats: torch.Tensor | None = None

    def need_real(self, name: str) -> torch.Tensor:
        if self.real is None:
            raise ValueError(f"metric {name!r} compares with real videos: pass real=")
        return self.real

    def need_judges(self, name: str) -> Judges:
        if self.judges is None:
            raise ValueError(
                f"metric {name!r} needs judges: pass judges=load_judges(...)"
            )
        return self.judges

    def judge_features(self, which: str) -> torch.Tensor:
        """Judge features of "fake" or "real" (the real ones shared between rows)."""
        if which == "fake":
            if self._fake_feats is None:
                self._fake_feats = self.judges.features(self.fake).double().cpu()
            return self._fake_feats
        if "judge" not in self._real_cache:
            self._real_cache["judge"] = self.judges.features(self.real).double().cpu()
        return self._real_cache["judge"]

    def entry(self, name: str) -> tuple[str, Entry]:
        """(output name, entry) of one requested metric name."""
        fake, seed = self.fake, self.seed
        if name in ("fd_judge", "kd_judge") or re.fullmatch(r"(fd|kd)_judge_.+", name):
            judges = self.need_judges(name)
            self.need_real(name)
            full = f"{name[:2]}_{judges.protocol}"
            if name not in (name[:2] + "_judge", full):
                raise ValueError(
                    f"metric {name!r} does not match the judges: use {full!r}"
                )
            f_fake, f_real = self.judge_features("fake"), self.judge_features("real")
            if name.startswith("fd"):
                protocol = (
                    "Frechet distance (float64, ddof=1, eigh sqrtm) of "
                    f"{judges.protocol} clip features, generated vs real (not FVD/FID)"
                )
                return full, {"protocol": protocol, **_fd_entry(f_fake, f_real)}
            protocol = (
                f"unbiased MMD^2, kernel (x.y/d+1)^3, mean of {KD_SUBSETS} subsets, "
                f"{judges.protocol} clip features (not KVD)"
            )
            return full, {"protocol": protocol, **_kd_entry(f_fake, f_real, seed)}
        if match := re.fullmatch(r"(is|hyx|hy)_judge_(\w+)", name):
            judges = self.need_judges(name)
            kind, key = match.groups()
            probs = _probs(judges, key, fake)
            source = f"{judges.protocol} {key} softmax"
            if kind == "is":
                mean, std = inception_score(probs, IS_SPLITS)
                protocol = f"exp(E KL(p(y|x)||p(y))), {source}, {IS_SPLITS} split(s)"
                entry = {"value": mean, "splits": IS_SPLITS, "protocol": protocol}
                entry["better"] = "higher"
                if std is not None:
                    entry["std"] = std  # over the splits (ddof=0)
                return name, entry
            if kind == "hyx":
                value = conditional_entropy(probs)
                protocol = f"H(y|x) in nats, {source}"
                return name, {"value": value, "protocol": protocol, "better": "lower"}
            return name, {
                "value": marginal_entropy(probs),
                "protocol": f"H(y) in nats, {source}",
                "better": "higher",
            }
        if name == "fcs_navs_ssim":
            protocol = (
                "NAVS Sec. 4.2 FCS: mean over videos and t>=2 of SSIM(x_1, x_t); "
                "SSIM of Wang 2004 (11x11 Gaussian, sigma 1.5, K 0.01/0.03), [0,1], "
                "RGB mean"
            )
            value = consistency.fcs(fake)
            return name, {"value": value, "protocol": protocol, "better": "higher"}
        if match := re.fullmatch(r"mcs_navs_(pixels|judge|vgg16)", name):
            return name, self.mcs_entry(name, match.group(1))
        if name == "acd_shapes_colour":
            protocol = (
                "MoCoGAN ACD: mean L2 over all frame pairs of the shape's mean colour "
                "(saturation > 0.5) on the [0,255] scale, averaged over videos"
            )
            value = consistency.acd(consistency.shape_colours(fake))
            return name, {"value": value, "protocol": protocol}
        if name == "mfd_pixels":
            value = mean_frame_difference(fake).mean().item()
            return name, {"value": value, "protocol": MFD_PROTOCOL}
        if match := re.fullmatch(r"fvd_i3d_(\d+)x(\d+)(_tpool\d+)?", name):
            return self.fvd_entry(name, int(match[1]), int(match[2]))
        if match := re.fullmatch(r"fid_resnext101_(\d+)x16", name):
            return name, self.resnext_entry(name, int(match[1]))
        raise ValueError(f"unknown metric {name!r}; see vidlib.metrics.registry")

    def mcs_entry(self, name: str, phi: str) -> Entry:
        real = self.need_real(name)
        base = "NAVS Sec. 4.2 MCS: log10 ||f - f_hat||^2, f = mean consecutive-frame"
        if phi == "pixels":
            protocol = f"{base} feature difference; phi = pixels on [0,1]"
            return {"protocol": protocol, "value": consistency.mcs(self.fake, real)}
        if phi == "judge":
            judges = self.need_judges(name)
            protocol = (
                f"{base} difference; phi = {judges.protocol} appearance frame features"
            )
            value = consistency.mcs(self.fake, real, judges.frame_features)
            return {"protocol": protocol, "value": value}
        protocol = f"{base} difference; phi = ImageNet VGG16 relu3_3, native resolution"

        def compute(model: Any) -> Entry:
            phi_vgg = extractors.vgg16_frame_features(model)
            return {"value": consistency.mcs(self.fake, real, phi_vgg, batch_size=64)}

        return _standard("vgg16", protocol, self.weights, compute)

    def fvd_entry(self, name: str, n: int, frames: int) -> tuple[str, Entry]:
        """(name, entry); below FVD's 16 frames the name carries I3D's temporal
        pooling window as used, which shrinks from 2 to 1 on clips of <= 8 frames."""
        window = extractors.i3d_temporal_window(frames)
        full = f"fvd_i3d_{n}x{frames}"
        if frames < extractors.FVD_FRAMES:
            full += f"_tpool{window}"
        if name not in (f"fvd_i3d_{n}x{frames}", full):
            raise ValueError(
                f"metric {name!r} does not match the window of I3D's last pool on "
                f"{frames}-frame clips: use {full!r}"
            )
        real = self.need_real(name)
        pooling = f"last average pool {window}x7x7 in time x space"
        if frames < extractors.FVD_FRAMES:
            pooling += (
                f" (I3D's is 2x7x7; FVD's clips have {extractors.FVD_FRAMES} frames: "
                "not comparable with published FVD)"
            )
        protocol = (
            "FVD (Unterthiner 2018): I3D Kinetics-400 logits averaged over time, "
            f"uint8, TF1 bilinear to 224, [-1,1]; {pooling}; {n} generated vs {n} "
            f"real clips of {frames} frames; float64, ddof=1"
        )
        for which, videos in (("generated", self.fake), ("real", real)):
            if videos.shape[0] != n or videos.shape[2] != frames:
                raise ValueError(
                    f"{name} needs {n} {which} clips of {frames} frames, got "
                    f"{videos.shape[0]} of {videos.shape[2]}"
                )
        entry = self.extractor_fd_entry("i3d", protocol, real)
        return full, {**entry, "i3d_temporal_window": window}

    def resnext_entry(self, name: str, n: int) -> Entry:
        real = self.need_real(name)
        protocol = (
            "G3AN/AVLAE FID: 3D-ResNeXt-101 (Hara) 2048-d pool features, centre 16 "
            f"frames, bilinear 112, minus ActivityNet mean; {n} generated vs "
            f"{real.shape[0]} real; float64, ddof=1"
        )
        if self.fake.shape[0] != n:
            raise ValueError(
                f"{name} needs {n} generated clips, got {self.fake.shape[0]}"
            )
        return self.extractor_fd_entry("resnext101", protocol, real)

    def extractor_fd_entry(
        self, extractor: str, protocol: str, real: torch.Tensor
    ) -> Entry:
        """Fréchet distance of a standard extractor's features, or unavailable."""

        def compute(model: Any) -> Entry:
            f_fake = extractors.extract(extractor, model, self.fake)
            return _fd_entry(f_fake, extractors.extract(extractor, model, real))

        return _standard(extractor, protocol, self.weights, compute)


def evaluate(
    names: Sequence[str],
    fake: torch.Tensor,
    *,
    real: torch.Tensor | None = None,
    judges: Judges | None = None,
    seed: int = 0,
    weights: Mapping[str, str | Path] | None = None,
) -> dict[str, Entry]:
    """Metric entries for ``write_results`` of generated videos ``(B, 3, T, H, W)``.

    ``weights`` maps ``"i3d"``, ``"resnext101"``, ``"vgg16"`` to local state_dict
    files; without one the metric's entry is ``value: None`` with the reason.
    """
    return _evaluate(names, _Evaluation(fake, real, judges, seed, weights))


def _evaluate(names: Sequence[str], run: _Evaluation) -> dict[str, Entry]:
    fake, real = run.fake, run.real
    if fake.ndim != 5 or fake.shape[1] != 3:
        raise ValueError(
            f"fake must be videos (B, 3, T, H, W), got {tuple(fake.shape)}"
        )
    results: dict[str, Entry] = {}
    for name in expand_names(names, run.judges):
        key, entry = run.entry(name)
        entry.update(n_fake=int(fake.shape[0]), seed=run.seed)
        if real is not None:
            entry["n_real"] = int(real.shape[0])
        if entry["value"] is not None and not abs(entry["value"]) < float("inf"):
            entry.update(value=None, unavailable=f"not finite ({entry['value']})")
        results[key] = entry
    return results


#: the names :func:`evaluate` answers (``is_judge`` alone expands, see
#: :func:`expand_names`); examples of each for messages in :data:`EXAMPLES`
NAME_PATTERNS: tuple[str, ...] = (
    r"(fd|kd)_judge(_.+)?",
    r"(is|hyx|hy)_judge(_\w+)?",
    r"fcs_navs_ssim",
    r"mcs_navs_(pixels|judge|vgg16)",
    r"acd_shapes_colour",
    r"mfd_pixels",
    r"fvd_i3d_\d+x\d+(_tpool\d+)?",
    r"fid_resnext101_\d+x16",
)
EXAMPLES: tuple[str, ...] = (
    "kd_judge",
    "is_judge",
    "is_judge_action",
    "fcs_navs_ssim",
    "mcs_navs_pixels",
    "acd_shapes_colour",
    "mfd_pixels",
    "fvd_i3d_256x16",
    "fid_resnext101_256x16",
)


def known_metric(name: str) -> bool:
    """Whether ``name`` is one :func:`evaluate` answers."""
    return any(re.fullmatch(pattern, name) for pattern in NAME_PATTERNS)


def expand_names(names: Sequence[str], judges: Judges | None) -> list[str]:
    """``names`` with ``is_judge`` replaced by ``is_judge_<key>`` for the action and
    every factor the judges tell apart."""
    out: list[str] = []
    for name in names:
        if name == "is_judge":
            if judges is None:
                raise ValueError("metric 'is_judge' needs judges: pass judges=")
            out += [f"is_judge_{key}" for key in ("action", *judges.factors)]
        else:
            out.append(name)
    return out


def reference_videos(real_test: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """The reference rows' "generated" sets, all made from ``real_test``: itself, its
    first frames repeated, its frames shuffled, and uniform noise in [-1, 1]."""
    gen = torch.Generator().manual_seed(seed)
    noise = torch.rand(real_test.shape, generator=gen) * 2 - 1
    return {
        "real_vs_real": real_test,
        "static": static_videos(real_test),
        "shuffled": shuffled_videos(real_test, gen),
        "noise": noise.to(real_test.device),
    }


def reference_rows(
    real_train: torch.Tensor,
    real_test: torch.Tensor,
    names: Sequence[str],
    judges: Judges | None = None,
    *,
    seed: int = 0,
    weights: Mapping[str, str | Path] | None = None,
) -> dict[str, dict[str, Entry]]:
    """``{row: evaluate(names, row videos, real=real_train)}`` for the rows
    real-vs-real (test vs train), static, shuffled and noise."""
    real_cache: dict[str, torch.Tensor] = {}  # real features, computed once
    return {
        row: _evaluate(
            names, _Evaluation(videos, real_train, judges, seed, weights, real_cache)
        )
        for row, videos in reference_videos(real_test, seed).items()
    }
