"""vidlib.reference: every typed-in number is traceable to a cited paper and table."""

import math
import re
from pathlib import Path

import pytest

from vidlib.reference import REPORTED, Reported, as_rows, reported

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
