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
NAVS: tuple[Reported, ...] = ()


REPORTED: tuple[Reported, ...] = (*G3AN, *NAVS)
