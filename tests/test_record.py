"""The experiment record (vidlib.record): parsing, errors, overrides and the key."""

import pytest

from vidlib.data.spec import DataConfig
from vidlib.record import (
    DataRecord,
    EvalConfig,
    RecordError,
    merge,
    nest,
    parse_data_record,
    parse_record,
    read_params_file,
)
from vidlib.results import record_summary

SMALL = {
    "data": {"resolution": 16, "frames": 8},
    "model": {"name": "mocogan", "ngf": 8},
    "train": {"steps": 3, "batch_size": 2},
}


def test_defaults_are_filled_and_frames_come_from_data():
    record = parse_record(SMALL)
    assert record.model["ngf"] == 8
    assert record.model["ndf"] == 64  # MoCoGANConfig's default
    assert (record.model["frames"], record.model["resolution"]) == (8, 16)
    assert record.train["seed"] == record.seed == 0
    assert record.eval.num == 256


def test_unknown_section_names_close_match_and_allowed():
    with pytest.raises(RecordError) as error:
        parse_record({**SMALL, "trian": {}}, "g3an.cpu.yaml")
    message = str(error.value)
    assert "g3an.cpu.yaml" in message
    assert "unknown section trian" in message
    assert "did you mean train?" in message
    assert "allowed: data, model, train, eval" in message


def test_unknown_key_names_close_match_and_allowed():
    record = {**SMALL, "model": {"name": "mocogan", "nfg": 8}}
    with pytest.raises(RecordError) as error:
        parse_record(record)
    message = str(error.value)
    assert "unknown key model.nfg" in message
    assert "did you mean model.ngf?" in message
    assert "allowed: " in message and "ndf" in message


def test_wrong_type_names_key_type_and_value():
    with pytest.raises(RecordError) as error:
        parse_record({**SMALL, "train": {"steps": "ten", "batch_size": 2}})
    assert "train.steps expects int, got 'ten' (str)" in str(error.value)
    with pytest.raises(RecordError, match=r"data\.shapes expects .*got 7 \(int\)"):
        parse_record({**SMALL, "data": {"shapes": 7}})


def test_model_name_and_train_sizes_are_required():
    with pytest.raises(RecordError, match="model.name is required"):
        parse_record({"train": SMALL["train"]})
    with pytest.raises(RecordError, match="did you mean 'mocogan'"):
        parse_record({**SMALL, "model": {"name": "mocogn"}})
    with pytest.raises(RecordError, match="train.batch_size is required"):
        parse_record({**SMALL, "train": {"steps": 3}})


def test_model_frames_must_agree_with_data_frames():
    with pytest.raises(RecordError) as error:
        parse_record({**SMALL, "model": {"name": "mocogan", "frames": 16}})
    assert "model.frames = 16 differs from data.frames = 8" in str(error.value)
    same = {**SMALL, "model": {"name": "mocogan", "ngf": 8, "frames": 8}}
    assert parse_record(same) == parse_record(SMALL)  # a stored record repeats it


def test_nest_and_merge():
    nested = nest({"model.ngf": 8, "model": {"ndf": 4}, "train.steps": 5})
    assert nested == {"model": {"ngf": 8, "ndf": 4}, "train": {"steps": 5}}
    with pytest.raises(RecordError, match="'model.a.b' must be <section>.<key>"):
        nest({"model.a.b": 1}, "cli")
    base = {"model": {"name": "mocogan", "ngf": 8}, "train": {"steps": 3}}
    merged = merge(base, {"model": {"ngf": 16}}, {"train": {"steps": 9}})
    assert merged == {"model": {"name": "mocogan", "ngf": 16}, "train": {"steps": 9}}
    assert base["model"]["ngf"] == 8  # the base is not changed


def test_replace_applies_dotted_overrides_and_checks_them():
    record = parse_record(SMALL)
    wider = record.replace({"model.ngf": 16, "train": {"steps": 7}})
    assert (wider.model["ngf"], wider.train["steps"]) == (16, 7)
    assert record.model["ngf"] == 8
    with pytest.raises(RecordError, match="did you mean model.ngf"):
        record.replace({"model.ngff": 16})
    longer = record.replace({"data.frames": 16})  # the model follows the data
    assert (longer.data.frames, longer.model["frames"]) == (16, 16)
    with pytest.raises(RecordError, match="model.frames = 8 differs"):
        record.replace({"data.frames": 16, "model.frames": 8})


def test_with_model_keeps_only_the_settings_of_a_shared_config_class():
    rjgan = parse_record(
        {
            "data": {"resolution": 16, "frames": 8},
            "model": {"name": "rjgan", "lr_g": 1e-3, "beta1": 0.0, "dim_z": 12},
            "train": {"steps": 3, "batch_size": 2},
        }
    )
    # RMoCoGANConfig and RJGANConfig both extend ResidualGANConfig: its fields carry
    rmocogan = rjgan.with_model("rmocogan", {"dim_z_motion": 4})
    assert (rmocogan.model["lr_g"], rmocogan.model["beta1"]) == (1e-3, 0.0)
    assert rmocogan.model["dim_z_motion"] == 4
    assert "dim_z" not in rmocogan.model  # RJGAN's own size does not
    assert rmocogan.train == rjgan.train and rmocogan.data == rjgan.data
    # RJVAEConfig shares no class with RJGANConfig: RJVAE's defaults, not RJGAN's
    rjvae = rjgan.with_model("rjvae", {"dim_z": 5})
    assert rjvae.model["dim_z"] == 5
    assert (
        rjvae.model["beta1"]
        == parse_record({**rjgan.as_dict(), "model": {"name": "rjvae"}}).model["beta1"]
        != 0.0
    )
    with pytest.raises(RecordError, match="dim_z_motion"):
        rjgan.with_model("rjvae", {"dim_z_motion": 4})


def test_as_dict_round_trips():
    record = parse_record({**SMALL, "eval": {"metrics": ["mfd", "fd_judge"]}})
    stored = record.as_dict()
    assert stored["eval"]["metrics"] == ["mfd", "fd_judge"]  # JSON lists
    assert parse_record(stored, "results.json") == record


def test_training_key_ignores_steps_and_eval_not_the_model():
    record = parse_record(SMALL)
    key = record.training_key()
    assert record.replace({"train.steps": 100}).training_key() == key
    assert record.replace({"train.log_every": 1}).training_key() == key
    assert record.replace({"eval.metrics": ["mfd"]}).training_key() == key
    assert record.replace({"model.ngf": 16}).training_key() != key
    assert record.replace({"train.seed": 1}).training_key() != key
    assert record.replace({"data.frames": 16}).training_key() != key


def test_training_key_changes_with_the_shapes_version(monkeypatch):
    """A run on an earlier drawing of Shapes trains in another folder, rather than
    resuming (or refusing) the old one's checkpoints."""
    record = parse_record(SMALL)
    key = record.training_key()
    monkeypatch.setattr("vidlib.data.spec.DATASET", "shapes-v3")
    assert record.training_key() != key


def test_read_params_file_splits_record_and_chapter_knobs(tmp_path):
    path = tmp_path / "x.cpu.yaml"
    path.write_text("model:\n  ngf: 16\ntrain.steps: 4\nconditional_steps: 3\n")
    record, other = read_params_file(path)
    assert record == {"model": {"ngf": 16}, "train": {"steps": 4}}
    assert other == {"conditional_steps": 3}


def test_read_params_file_errors_name_the_file(tmp_path):
    broken = tmp_path / "broken.cpu.yaml"
    broken.write_text("model:\n  ngf: [16\n")
    with pytest.raises(RecordError, match=r"broken\.cpu\.yaml is not valid YAML"):
        read_params_file(broken)
    listed = tmp_path / "listed.cpu.yaml"
    listed.write_text("- ngf\n- 16\n")
    with pytest.raises(RecordError, match=r"listed\.cpu\.yaml must be a YAML mapping"):
        read_params_file(listed)
    with pytest.raises(RecordError, match=r"missing\.cpu\.yaml cannot be read"):
        read_params_file(tmp_path / "missing.cpu.yaml")


def test_data_record_of_a_chapter_that_trains_nothing():
    record = parse_data_record({"data": {"resolution": 32, "frames": 8}})
    assert isinstance(record, DataRecord)
    assert (record.data.resolution, record.data.frames) == (32, 8)
    assert record.data.shapes_config.actions == record.data.actions
    assert record.eval.num == 256
    assert parse_data_record({}) == DataRecord(DataConfig(), EvalConfig())
    assert parse_data_record(record.as_dict(), "results.json") == record


def test_data_record_refuses_model_and_train_naming_the_allowed_sections():
    with pytest.raises(RecordError) as error:
        parse_data_record(SMALL, "shapes.cpu.yaml")
    message = str(error.value)
    assert "shapes.cpu.yaml: unknown section model" in message
    assert "allowed: data, eval" in message
    with pytest.raises(RecordError, match="data.frames expects int, got '8'"):
        parse_data_record({"data": {"frames": "8"}})


def test_record_summary_of_a_data_record_shows_the_chapters_seed():
    record = parse_data_record({"data": {"frames": 8}})
    text = record_summary(record, "cpu", "shapes", seed=3).data
    assert "profile `cpu` · seed 3" in text
    assert "notebooks/params/shapes.cpu.yaml" in text
    assert "frames: 8" in text
    full = record_summary(parse_record(SMALL).replace({"train.seed": 2}), "smoke", "x")
    assert "seed 2" in full.data and "parameters cell of `notebooks/x.md`" in full.data
