"""The papers' reported numbers, each with the table it is printed in and its protocol.

This is the only place in vidlib where numbers are typed in from the papers. Chapters
show them beside our measured numbers, always labelled as the paper's (``label``),
never mixed into our results. Each paper has its own tuple below, filled from the
paper's text in the order of its tables.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Reported:
    """One number as a paper prints it."""

    paper: str  # bib key in book/references.bib, e.g. "wang2020g3an"
    table: str  # where it is printed, e.g. "Table 1"
    dataset: str  # the paper's dataset, e.g. "UvA-NEMO"
    method: str  # the row, e.g. "MoCoGAN" (as the paper names it)
    metric: str  # the paper's metric name, e.g. "FID"
    value: float
    protocol: str  # how the paper computed it (extractor, sample counts, ...)
    higher_is_better: bool

    @property
    def label(self) -> str:
        """How the number is captioned wherever it is shown."""
        return f"{self.metric} reported in {self.paper}, {self.table} ({self.dataset})"


def reported(
    paper: str, *, table: str | None = None, dataset: str | None = None
) -> list[Reported]:
    """The reported numbers of ``paper`` (bib key), optionally of one table/dataset."""
    papers = sorted({r.paper for r in REPORTED})
    if paper not in papers:
        raise KeyError(f"no reported numbers for paper {paper!r}; known: {papers}")
    return [
        r
        for r in REPORTED
        if r.paper == paper
        and (table is None or r.table == table)
        and (dataset is None or r.dataset == dataset)
    ]


def as_rows(numbers: list[Reported]) -> list[dict]:
    """Plain dicts (for pandas or a markdown table), with a ``source`` column."""
    return [asdict(r) | {"source": f"{r.paper}, {r.table}"} for r in numbers]


# --- G3AN (wang2020g3an) ----------------------------------------------------------
_G3AN_FID = (
    "video FID (Heusel et al.) in the features of a 3D CNN pre-trained on Kinetics "
    "(Hara et al., 3D-ResNeXt-101; official eval code: 16 frames at 112x112, 5000 "
    "generated videos vs all training videos)"
)
_G3AN_IS = (
    "video IS (Salimans et al.) from the class posterior of the same 3D CNN trained "
    "on UCF101"
)
_G3AN_COLUMNS = (  # (dataset, metric) of each column of Tables 1, 3, 4, 5
    ("MUG", "FID"),
    ("UvA-NEMO", "FID"),
    ("Weizmann", "FID"),
    ("UCF101", "FID"),
    ("UCF101", "IS"),
)
_G3AN_TABLES: dict[str, dict[str, tuple[float, ...]]] = {
    "Table 1": {  # comparison with the state of the art
        "VGAN": (160.76, 235.01, 158.04, 115.06, 2.94),
        "TGAN": (97.07, 216.41, 99.85, 110.58, 2.74),
        "MoCoGAN": (87.11, 197.32, 92.18, 104.14, 3.06),
        "G3AN": (67.12, 119.22, 86.01, 91.21, 3.62),
    },
    "Table 3": {  # contribution of the main components of G
        "w/o G_S, G_T, F-SA": (117.10, 164.04, 252.97, 127.09, 2.78),
        "w/o G_S, G_T": (113.44, 159.54, 176.73, 120.17, 3.16),
        "w/o G_S": (109.87, 129.84, 141.06, 117.19, 3.05),
        "w/o F-SA": (85.11, 128.14, 97.54, 98.37, 3.44),
        "w/o G_T": (82.07, 121.87, 94.64, 96.47, 3.16),
        "G3AN": (67.12, 119.22, 86.01, 91.21, 3.62),
    },
    "Table 4": {  # transposed convolution type in G_V, matched parameter counts
        "3D": (93.51, 149.98, 154.21, 117.61, 2.88),
        "(2+1)D": (73.08, 141.35, 95.01, 98.70, 3.36),
        "(1+2)D": (69.42, 140.42, 87.04, 96.79, 3.07),
    },
    "Table 5": {  # level after which F-SA is inserted
        "G_0": (83.01, 188.60, 96.38, 100.37, 3.09),
        "G_1": (72.54, 178.64, 99.66, 126.12, 2.74),
        "G_2": (69.02, 160.12, 97.53, 112.36, 3.03),
        "G_3": (67.12, 119.22, 86.01, 91.21, 3.62),
    },
}
G3AN: tuple[Reported, ...] = tuple(
    Reported(
        paper="wang2020g3an",
        table=table,
        dataset=dataset,
        method=method,
        metric=metric,
        value=value,
        protocol=_G3AN_FID if metric == "FID" else _G3AN_IS,
        higher_is_better=metric == "IS",
    )
    for table, rows in _G3AN_TABLES.items()
    for method, values in rows.items()
    for (dataset, metric), value in zip(_G3AN_COLUMNS, values, strict=True)
)


# --- NAVS (aich2020navs) ----------------------------------------------------------
NAVS_MCS = (
    "relative MCS: log10 ||f - f_hat||^2 of the mean consecutive-frame difference of "
    "VGG16 relu3_3 frame features, generated vs ground-truth videos (Sec. 4.2)"
)
NAVS_FCS = (
    "FCS: mean SSIM of every frame to the first frame of its generated video, "
    "averaged over videos (Sec. 4.2)"
)
NAVS_ABLATION = (
    " Chair-CAD ablation, 500 generated videos from the learned latents (Sec. 4.4.1)"
)
NAVS: tuple[Reported, ...] = (
    Reported(
        "aich2020navs",
        "Table 2",
        "Chair-CAD",
        "Bound (real videos)",
        "MCS",
        0.0,
        NAVS_MCS,
        False,
    ),
    Reported(
        "aich2020navs",
        "Table 2",
        "Chair-CAD",
        "Bound (real videos)",
        "FCS",
        0.91,
        NAVS_FCS,
        True,
    ),
    Reported(
        "aich2020navs", "Table 2", "Chair-CAD", "MoCoGAN", "MCS", 4.11, NAVS_MCS, False
    ),
    Reported(
        "aich2020navs", "Table 2", "Chair-CAD", "MoCoGAN", "FCS", 0.85, NAVS_FCS, True
    ),
    Reported(
        "aich2020navs",
        "Table 2",
        "Chair-CAD",
        "Ours (-l_triplet -l_static)",
        "MCS",
        3.83,
        NAVS_MCS,
        False,
    ),
    Reported(
        "aich2020navs",
        "Table 2",
        "Chair-CAD",
        "Ours (-l_triplet -l_static)",
        "FCS",
        0.77,
        NAVS_FCS,
        True,
    ),
    Reported(
        "aich2020navs",
        "Table 2",
        "Chair-CAD",
        "Ours (+l_triplet +l_static)",
        "MCS",
        3.32,
        NAVS_MCS,
        False,
    ),
    Reported(
        "aich2020navs",
        "Table 2",
        "Chair-CAD",
        "Ours (+l_triplet +l_static)",
        "FCS",
        0.89,
        NAVS_FCS,
        True,
    ),
    Reported(
        "aich2020navs",
        "Table 2",
        "Weizmann",
        "Bound (real videos)",
        "MCS",
        0.0,
        NAVS_MCS,
        False,
    ),
    Reported(
        "aich2020navs",
        "Table 2",
        "Weizmann",
        "Bound (real videos)",
        "FCS",
        0.95,
        NAVS_FCS,
        True,
    ),
    Reported(
        "aich2020navs", "Table 2", "Weizmann", "MoCoGAN", "MCS", 3.41, NAVS_MCS, False
    ),
    Reported(
        "aich2020navs", "Table 2", "Weizmann", "MoCoGAN", "FCS", 0.85, NAVS_FCS, True
    ),
    Reported(
        "aich2020navs",
        "Table 2",
        "Weizmann",
        "Ours (-l_triplet -l_static)",
        "MCS",
        3.87,
        NAVS_MCS,
        False,
    ),
    Reported(
        "aich2020navs",
        "Table 2",
        "Weizmann",
        "Ours (-l_triplet -l_static)",
        "FCS",
        0.79,
        NAVS_FCS,
        True,
    ),
    Reported(
        "aich2020navs",
        "Table 2",
        "Weizmann",
        "Ours (+l_triplet +l_static)",
        "MCS",
        2.63,
        NAVS_MCS,
        False,
    ),
    Reported(
        "aich2020navs",
        "Table 2",
        "Weizmann",
        "Ours (+l_triplet +l_static)",
        "FCS",
        0.9,
        NAVS_FCS,
        True,
    ),
    Reported(
        "aich2020navs",
        "Table 2",
        "Golf",
        "Bound (real videos)",
        "MCS",
        0.0,
        NAVS_MCS,
        False,
    ),
    Reported(
        "aich2020navs",
        "Table 2",
        "Golf",
        "Bound (real videos)",
        "FCS",
        0.97,
        NAVS_FCS,
        True,
    ),
    Reported("aich2020navs", "Table 2", "Golf", "VGAN", "MCS", 3.61, NAVS_MCS, False),
    Reported("aich2020navs", "Table 2", "Golf", "VGAN", "FCS", 0.88, NAVS_FCS, True),
    Reported(
        "aich2020navs",
        "Table 2",
        "Golf",
        "Ours (-l_triplet -l_static)",
        "MCS",
        3.78,
        NAVS_MCS,
        False,
    ),
    Reported(
        "aich2020navs",
        "Table 2",
        "Golf",
        "Ours (-l_triplet -l_static)",
        "FCS",
        0.84,
        NAVS_FCS,
        True,
    ),
    Reported(
        "aich2020navs",
        "Table 2",
        "Golf",
        "Ours (+l_triplet +l_static)",
        "MCS",
        2.71,
        NAVS_MCS,
        False,
    ),
    Reported(
        "aich2020navs",
        "Table 2",
        "Golf",
        "Ours (+l_triplet +l_static)",
        "FCS",
        0.84,
        NAVS_FCS,
        True,
    ),
    Reported(
        "aich2020navs",
        "Table 4a",
        "Chair-CAD",
        "-Z",
        "MCS",
        3.96,
        NAVS_MCS + NAVS_ABLATION,
        False,
    ),
    Reported(
        "aich2020navs",
        "Table 4a",
        "Chair-CAD",
        "-Z",
        "FCS",
        0.75,
        NAVS_FCS + NAVS_ABLATION,
        True,
    ),
    Reported(
        "aich2020navs",
        "Table 4a",
        "Chair-CAD",
        "+Z",
        "MCS",
        3.32,
        NAVS_MCS + NAVS_ABLATION,
        False,
    ),
    Reported(
        "aich2020navs",
        "Table 4a",
        "Chair-CAD",
        "+Z",
        "FCS",
        0.89,
        NAVS_FCS + NAVS_ABLATION,
        True,
    ),
    Reported(
        "aich2020navs",
        "Table 4b",
        "Chair-CAD",
        "-l_triplet -l_static",
        "MCS",
        3.83,
        NAVS_MCS + NAVS_ABLATION,
        False,
    ),
    Reported(
        "aich2020navs",
        "Table 4b",
        "Chair-CAD",
        "-l_triplet -l_static",
        "FCS",
        0.77,
        NAVS_FCS + NAVS_ABLATION,
        True,
    ),
    Reported(
        "aich2020navs",
        "Table 4b",
        "Chair-CAD",
        "-l_triplet +l_static",
        "MCS",
        3.82,
        NAVS_MCS + NAVS_ABLATION,
        False,
    ),
    Reported(
        "aich2020navs",
        "Table 4b",
        "Chair-CAD",
        "-l_triplet +l_static",
        "FCS",
        0.85,
        NAVS_FCS + NAVS_ABLATION,
        True,
    ),
    Reported(
        "aich2020navs",
        "Table 4b",
        "Chair-CAD",
        "+l_triplet -l_static",
        "MCS",
        3.36,
        NAVS_MCS + NAVS_ABLATION,
        False,
    ),
    Reported(
        "aich2020navs",
        "Table 4b",
        "Chair-CAD",
        "+l_triplet -l_static",
        "FCS",
        0.81,
        NAVS_FCS + NAVS_ABLATION,
        True,
    ),
    Reported(
        "aich2020navs",
        "Table 4b",
        "Chair-CAD",
        "+l_triplet +l_static",
        "MCS",
        3.32,
        NAVS_MCS + NAVS_ABLATION,
        False,
    ),
    Reported(
        "aich2020navs",
        "Table 4b",
        "Chair-CAD",
        "+l_triplet +l_static",
        "FCS",
        0.89,
        NAVS_FCS + NAVS_ABLATION,
        True,
    ),
)


REPORTED: tuple[Reported, ...] = (*G3AN, *NAVS)
