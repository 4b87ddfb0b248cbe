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
G3AN: tuple[Reported, ...] = ()


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
