"""The identity × action cells (NAVS's action exchange) as a record's data section."""

from __future__ import annotations

import pytest

from vidlib.data.cells import CellVideos
from vidlib.data.shapes import ACTIONS, SHAPES
from vidlib.data.spec import DataConfig, open_data, table_rows
from vidlib.record import RecordError, parse_record

IDENTITIES = [["circle", "red", "black"], ["square", "blue", "black"]]
CELLS = {
    "resolution": 16,
    "frames": 6,
    "actions": ["right", "up"],
    "dataset": "shapes-cells",
    "options": {"identities": IDENTITIES, "heldout": [[0, 1]]},
}


def record(data: dict, **model) -> dict:
    return {
        "data": data,
        "model": {"name": "navs", "pyramid_levels": 2, **model},
        "train": {"steps": 2, "batch_size": 2},
    }


def test_cells_open_as_training_and_held_out_splits() -> None:
    config = DataConfig(**CELLS)
    train, test = open_data(config, "train", 0), open_data(config, "test", 0)
    assert isinstance(train, CellVideos) and isinstance(test, CellVideos)
    assert train.cells == [(0, 0), (1, 0), (1, 1)] and test.cells == [(0, 1)]
    item = test[0]  # circle (0), red (0), up
    assert (item["identity"], item["action_row"]) == (0, 1)
    assert (item["shape"], item["color"], item["action"]) == (0, 0, ACTIONS.index("up"))
    with pytest.raises(ValueError, match="splits 'train'.*'test'.*not 'heldout'"):
        open_data(config, "heldout", 0)


def test_table_sizes_left_at_zero_come_from_the_data() -> None:
    cells = parse_record(
        record(CELLS, static_key="identity", transient_key="action_row")
    )
    assert (cells.model["num_static"], cells.model["num_transient"]) == (2, 2)
    by_index = parse_record(record({**CELLS, "options": {"identities": IDENTITIES}}))
    assert by_index.model["num_static"] == 4  # every cell trains: 2 identities × 2
    shapes = {"resolution": 16, "frames": 6, "size": 32}
    spec = parse_record(record(shapes, static_key="shape", transient_key="action"))
    assert spec.model["num_static"] == len(SHAPES)  # global labels: every value
    assert spec.model["num_transient"] == len(ACTIONS)
    assert parse_record(record(shapes)).model["num_static"] == 32
    explicit = parse_record(record(shapes, num_static=7)).model["num_static"]
    assert explicit == 7
    assert table_rows(DataConfig(**shapes), "index") == 32


def test_bad_cell_options_are_refused_naming_the_option() -> None:
    def refused(options: dict, match: str) -> None:
        with pytest.raises(RecordError, match=match):
            parse_record(record({**CELLS, "options": options}))

    refused({"identities": IDENTITIES, "held": []}, r"takes identities .* got \['held'")
    refused({"heldout": []}, r"identities \(required\)")
    refused({"identities": [["circle", "red"]]}, r"options.identities: each entry is")
    refused({"identities": [["circle", "mauve", "black"]]}, r"color: unknown \['mauve'")
    refused(
        {"identities": IDENTITIES, "heldout": [[0, 1], [1, 1]]},
        r"no training video for actions \['up'\]",
    )
    refused({"identities": IDENTITIES, "heldout": [[2, 0]]}, r"not \(identity, action")
    with pytest.raises(RecordError, match="'shapes' takes only image_fraction"):
        parse_record(record({"options": {"identities": IDENTITIES}}))
    weizmann = {"dataset": "weizmann", "root": "/nowhere"}
    with pytest.raises(RecordError, match=r"model.num_static: .*'index' of dataset"):
        parse_record(record(weizmann))
