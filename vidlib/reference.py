"""The papers' reported numbers, each with the table it is printed in and its protocol.

The numbers are data: ``vidlib/reference.yaml``, the only place in vidlib where
numbers are typed in from the papers, one line per number. Chapters show them beside
our measured numbers, always labelled as the paper's (``label``), never mixed into our
results.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

PATH = Path(__file__).with_name("reference.yaml")


class ReferenceError(ValueError):
    """A malformed reference file: names the file, the row and what is wrong."""


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


#: keys of a row in the file; ``protocol`` names an entry of ``protocols``
ROW_KEYS = tuple(f.name for f in fields(Reported) if f.name != "higher_is_better")


def load_reported(path: str | Path = PATH) -> tuple[Reported, ...]:
    """Every number in the reference file ``path``, in file order.

    Raises ``ReferenceError`` naming the file and the row (its index and what it
    holds) for a row with a missing or unknown key, a value that is not a number,
    a text field that is not text, or a protocol the file does not define.
    """
    path = Path(path)
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or set(data) != {"protocols", "numbers"}:
        raise ReferenceError(f"{path}: expected the sections 'protocols' and 'numbers'")
    protocols = {
        name: _protocol(path, name, entry) for name, entry in data["protocols"].items()
    }
    return tuple(_row(path, i, row, protocols) for i, row in enumerate(data["numbers"]))


def _protocol(path: Path, name: str, entry: Any) -> tuple[str, bool]:
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("text"), str)
        or not isinstance(entry.get("higher_is_better"), bool)
        or len(entry) != 2
    ):
        raise ReferenceError(
            f"{path}: protocol {name!r} must hold exactly 'text' (a string) and "
            f"'higher_is_better' (true or false), got {entry!r}"
        )
    return entry["text"], entry["higher_is_better"]


def _row(
    path: Path, index: int, row: Any, protocols: dict[str, tuple[str, bool]]
) -> Reported:
    where = f"{path}: numbers[{index}] {row!r}"
    if not isinstance(row, dict):
        raise ReferenceError(f"{where}: expected a mapping with keys {ROW_KEYS}")
    missing = [key for key in ROW_KEYS if key not in row]
    unknown = sorted(set(row) - set(ROW_KEYS))
    if missing or unknown:
        raise ReferenceError(
            f"{where}: missing keys {missing}, unknown keys {unknown}; a row has "
            f"exactly {ROW_KEYS}"
        )
    texts = [key for key in ROW_KEYS if key != "value"]
    if not all(isinstance(row[key], str) and row[key] for key in texts):
        raise ReferenceError(f"{where}: {texts} must be non-empty strings")
    value = row["value"]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReferenceError(f"{where}: value must be a number, got {value!r}")
    if row["protocol"] not in protocols:
        raise ReferenceError(
            f"{where}: protocol {row['protocol']!r} is not defined; defined: "
            f"{sorted(protocols)}"
        )
    text, higher_is_better = protocols[row["protocol"]]
    return Reported(
        **{**row, "value": float(value), "protocol": text},
        higher_is_better=higher_is_better,
    )


REPORTED: tuple[Reported, ...] = load_reported()


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


def markdown_table(paper: str, table: str) -> str:
    """``paper``'s ``table`` as a markdown table, as printed: a row per method, a
    column per (dataset, metric) ("—" where the paper has no number), then the source
    and the protocol of each metric."""
    numbers = reported(paper, table=table)
    if not numbers:
        raise KeyError(f"{paper} has no reported numbers in {table!r}")
    columns = list(dict.fromkeys((r.dataset, r.metric) for r in numbers))
    arrows = {(r.dataset, r.metric): "↓↑"[r.higher_is_better] for r in numbers}
    lines = [
        "| row | " + " | ".join(f"{d} {m} {arrows[d, m]}" for d, m in columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for method in dict.fromkeys(r.method for r in numbers):
        cells = {(r.dataset, r.metric): r.value for r in numbers if r.method == method}
        values = [f"{cells[c]:.2f}" if c in cells else "—" for c in columns]
        lines.append(f"| {method} | " + " | ".join(values) + " |")
    source = numbers[0].label.split(" (")[0]
    protocols = "; ".join(dict.fromkeys(r.protocol for r in numbers))
    return "\n".join(lines) + f"\n\n{source}; {protocols}."
