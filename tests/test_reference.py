"""vidlib.reference: every typed-in number (vidlib/reference.yaml) is traceable to a
cited paper and table; a malformed row is refused, named."""

import math
import re
from pathlib import Path

import pytest

from vidlib.reference import (
    PATH,
    REPORTED,
    ReferenceError,
    Reported,
    as_rows,
    load_reported,
    markdown_table,
    reported,
)

BIB_KEYS = set(
    re.findall(
        r"@\w+\{([^,]+),",
        (Path(__file__).parents[1] / "book/references.bib").read_text(),
    )
)


@pytest.mark.parametrize(
    "number", REPORTED, ids=lambda r: f"{r.paper}-{r.table}-{r.method}-{r.metric}"
)
def test_each_number_names_a_cited_paper_a_table_and_a_protocol(number: Reported):
    assert number.paper in BIB_KEYS
    assert re.fullmatch(r"(Table|Fig\.|Sec\.) \S+", number.table)
    assert number.dataset and number.method and number.metric and number.protocol
    assert math.isfinite(number.value)
    assert number.paper in number.label and number.table in number.label


def test_no_number_is_entered_twice():
    keys = [(r.paper, r.table, r.dataset, r.method, r.metric) for r in REPORTED]
    assert len(keys) == len(set(keys))


def test_filters_and_rows():
    for paper in {r.paper for r in REPORTED}:
        numbers = reported(paper)
        assert numbers and all(r.paper == paper for r in numbers)
        table = numbers[0].table
        assert all(r.table == table for r in reported(paper, table=table))
        assert as_rows(numbers)[0]["source"] == f"{paper}, {numbers[0].table}"


def test_unknown_paper_is_named():
    with pytest.raises(KeyError, match="no reported numbers for paper 'nope'"):
        reported("nope")


def test_the_file_is_package_data() -> None:
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert f'vidlib = ["{PATH.name}"]' in pyproject


GOOD_ROW = (
    "{paper: p2020, table: Table 1, dataset: D, method: M, metric: FID, "
    "value: 1.5, protocol: fid}"
)


def reference_file(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "reference.yaml"
    lines = [
        "protocols:",
        "  fid: {text: FID of some features, higher_is_better: false}",
        "numbers:",
    ]
    path.write_text("\n".join(lines + [f"  - {row}" for row in rows]) + "\n")
    return path


def test_a_well_formed_file_loads(tmp_path: Path) -> None:
    (number,) = load_reported(reference_file(tmp_path, GOOD_ROW))
    assert number == Reported(
        "p2020", "Table 1", "D", "M", "FID", 1.5, "FID of some features", False
    )


@pytest.mark.parametrize(
    ("row", "error"),
    [
        (GOOD_ROW.replace("metric: FID, ", ""), r"missing keys \['metric'\]"),
        (GOOD_ROW.replace("}", ", note: x}"), r"unknown keys \['note'\]"),
        (GOOD_ROW.replace("1.5", "high"), "value must be a number, got 'high'"),
        (GOOD_ROW.replace("fid}", "fvd}"), "protocol 'fvd' is not defined"),
    ],
    ids=["missing", "unknown", "value", "protocol"],
)
def test_a_malformed_row_is_refused_naming_it(
    tmp_path: Path, row: str, error: str
) -> None:
    path = reference_file(tmp_path, GOOD_ROW, row)
    with pytest.raises(ReferenceError, match=error) as caught:
        load_reported(path)
    assert f"{path}: numbers[1] " in str(caught.value)  # the file and the row
    assert "'method': 'M'" in str(caught.value)  # what the row holds


def test_markdown_table_pivots_a_table_as_the_paper_prints_it() -> None:
    text = markdown_table("kasaraneni2022avlae", "Table 2")
    lines = text.split("\n")
    assert lines[0] == "| row | UCF101 IS ↑ |"
    assert lines[2:8] == [
        "| VGAN | 2.94 |",
        "| TGAN | 2.74 |",
        "| MoCoGAN | 3.06 |",
        "| G3AN | 3.88 |",
        "| AVLAE-64 | 3.93 |",
        "| AVLAE | 3.97 |",
    ]
    assert lines[-1].startswith("IS reported in kasaraneni2022avlae, Table 2;")
    with pytest.raises(KeyError, match="Table 9"):
        markdown_table("kasaraneni2022avlae", "Table 9")
