"""The experiment record: one nested mapping that says what a run is.

A record has four sections, each mapping one-to-one onto a dataclass whose defaults
are the paper's values:

=========  ======================================================================
``data``   :class:`vidlib.data.spec.DataConfig` (Shapes factors, clip size, dataset)
``model``  ``name`` (a key of :data:`vidlib.method.METHODS`) and the fields of
           that model's config class (``frames`` and ``resolution`` from ``data``;
           sizes named in its ``ROWS_FROM_DATA`` and left at 0 from ``data`` too)
``train``  :class:`vidlib.train.TrainConfig` without ``out_dir`` (the experiment's)
``eval``   :class:`EvalConfig` (the metrics the run reports)
=========  ======================================================================

A params file ``notebooks/params/<slug>.<profile>.yaml`` holds only what a profile
overrides; :func:`parse_record` fills in the defaults, checks every key and type, and
raises :class:`RecordError` naming the key, what was expected and where it came from.
The same record is stored in ``results.json``, varied by grids, read by benchmarks and
rebuilt by :func:`vidlib.method.load_trained`. A chapter that trains nothing (the
dataset and metric chapters) has a record of ``data`` and ``eval`` only:
:func:`parse_data_record`.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from vidlib.checkpoint import config_hash
from vidlib.data.spec import DataConfig, data_version, table_rows
from vidlib.hints import did_you_mean
from vidlib.method import METHODS, method_classes
from vidlib.metrics.registry import EXAMPLES, known_metric
from vidlib.train import HASHED_TRAIN_FIELDS, TrainConfig

SECTIONS: tuple[str, ...] = ("data", "model", "train", "eval")
#: the sections of a record that trains nothing (see :func:`parse_data_record`)
DATA_SECTIONS: tuple[str, ...] = ("data", "eval")
#: model config fields that the data section sets
FROM_DATA: tuple[str, ...] = ("frames", "resolution")


class RecordError(ValueError):
    """A record (or a params file) with an unknown key or a value of the wrong type."""


#: eval names vidlib.experiment computes itself; any other goes to the metric registry
OWN_METRICS: tuple[str, ...] = (
    "mfd",
    "code_effect",
    "fd_judge",
    "disentanglement",
    "conditional",
    "is_frame_classifier",
    "exchange",
)


@dataclass(frozen=True)
class EvalConfig:
    """What the experiment reports after training (names of ``vidlib.experiment``)."""

    metrics: tuple[str, ...] = ()  # e.g. mfd, code_effect, fd_judge, disentanglement
    num: int = 256  # generated clips (and held-out real clips) per metric
    seed_offset: int = 1  # samples are drawn with seed train.seed + seed_offset

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", tuple(self.metrics))
        for name in self.metrics:
            if name not in OWN_METRICS and not known_metric(str(name)):
                names = (*OWN_METRICS, *EXAMPLES)
                raise ValueError(
                    f"eval.metrics: unknown metric {name!r}; "
                    f"{did_you_mean(name, names)}expected one of {', '.join(names)} "
                    "(or another name of vidlib.metrics.registry)"
                )
        if self.num < 2:
            raise ValueError(f"eval.num must be >= 2, got {self.num}")


@dataclass(frozen=True)
class Record:
    """A parsed, complete record (see the module docstring)."""

    data: DataConfig
    model: dict[str, Any]  # {"name": ..., **every field of the model's config}
    train: dict[str, Any]  # TrainConfig fields without out_dir
    eval: EvalConfig

    @property
    def seed(self) -> int:
        return self.train["seed"]

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON primitives (what results.json stores)."""
        return _primitives(
            {
                "data": dataclasses.asdict(self.data),
                "model": self.model,
                "train": self.train,
                "eval": dataclasses.asdict(self.eval),
            }
        )

    def training_key(self) -> str:
        """Hash of what determines the trained weights, the version of the embedded
        data's drawing included (not ``steps``, so a longer run resumes a shorter
        one; not ``eval``; not the model settings read only when sampling, its config
        class's ``SAMPLING_ONLY``)."""
        record = self.as_dict()
        train = {k: record["train"][k] for k in HASHED_TRAIN_FIELDS}
        data = {**record["data"], "version": data_version(self.data)}
        _, config_class = method_classes(self.model["name"])
        sampling = getattr(config_class, "SAMPLING_ONLY", ())
        model = {k: v for k, v in record["model"].items() if k not in sampling}
        return config_hash({"data": data, "model": model, "train": train})

    def train_config(self, out_dir: str) -> TrainConfig:
        return TrainConfig(out_dir=out_dir, **self.train)

    def with_model(
        self, name: str, settings: Mapping[str, Any], origin: str = "with_model"
    ) -> Record:
        """This record with model ``name`` and its ``settings``, keeping the
        settings it shares with this record's model (:func:`family_settings`)."""
        values = self.as_dict()
        values["model"] = {
            "name": name,
            **family_settings(values["model"], name),
            **settings,
        }
        return parse_record(values, origin)

    def replace(self, overrides: Mapping[str, Any], origin: str = "replace") -> Record:
        """This record with ``overrides`` (nested or dotted names) applied."""
        base = self.as_dict()
        for key in FROM_DATA:  # taken from data again: the overrides may change it
            base["model"].pop(key, None)
        return parse_record(merge(base, nest(overrides, origin)), origin)


@dataclass(frozen=True)
class DataRecord:
    """The record of a chapter that trains nothing: its data and what it reports."""

    data: DataConfig
    eval: EvalConfig

    def as_dict(self) -> dict[str, Any]:
        """The record as JSON primitives (what results.json stores)."""
        return _primitives(
            {
                "data": dataclasses.asdict(self.data),
                "eval": dataclasses.asdict(self.eval),
            }
        )


def nest(overrides: Mapping[str, Any], origin: str = "overrides") -> dict[str, Any]:
    """``{"model.ngf": 8, "train": {"steps": 5}}`` -> ``{"model": {"ngf": 8}, "train":
    {"steps": 5}}``; a dotted name has exactly one dot (section.key)."""
    nested: dict[str, Any] = {}
    for name, value in overrides.items():
        section, dot, key = str(name).partition(".")
        if dot:
            if not key or "." in key:
                raise RecordError(f"{origin}: {name!r} must be <section>.<key>")
            value = {key: value}
        if isinstance(value, Mapping) and isinstance(nested.get(section), Mapping):
            nested[section] = {**nested[section], **value}
        else:
            nested[section] = value
    return nested


def merge(base: Mapping[str, Any], *layers: Mapping[str, Any]) -> dict[str, Any]:
    """Sections of ``layers`` merged key by key over ``base`` (later layers win)."""
    merged = {section: dict(values) for section, values in base.items()}
    for layer in layers:
        for section, values in layer.items():
            if isinstance(values, Mapping) and isinstance(merged.get(section), dict):
                merged[section].update(values)
            else:
                merged[section] = values
    return merged


def parse_record(mapping: Mapping[str, Any], origin: str = "record") -> Record:
    """The complete :class:`Record` for the overrides ``mapping`` (defaults filled)."""
    sections = _sections(mapping, origin, SECTIONS)
    data = _build(DataConfig, sections["data"], "data", origin)
    model = dict(sections["model"])
    name = model.pop("name", None)
    if name is None:
        raise RecordError(
            f"{origin}: model.name is required (one of {', '.join(sorted(METHODS))})"
        )
    try:
        _, config_class = method_classes(name)
    except ValueError as e:
        raise RecordError(f"{origin}: model.name: {e}") from None
    for key in FROM_DATA:  # a stored record repeats them; a params file may not
        if key in model and model[key] != getattr(data, key):
            raise RecordError(
                f"{origin}: model.{key} = {model[key]!r} differs from data.{key} ="
                f" {getattr(data, key)!r}; the model takes it from data.{key}"
            )
    names = {f.name for f in fields(config_class)}
    model |= {key: getattr(data, key) for key in FROM_DATA if key in names}
    defaults = {f.name: f.default for f in fields(config_class)}
    for size, key in getattr(config_class, "ROWS_FROM_DATA", {}).items():
        if model.get(size, defaults[size]) == 0:  # 0: one row per value of the key
            try:
                model[size] = table_rows(data, model.get(key, defaults[key]))
            except ValueError as e:
                raise RecordError(f"{origin}: model.{size}: {e}") from None
    config = _build(config_class, model, "model", origin)
    train_fields = [f for f in fields(TrainConfig) if f.name != "out_dir"]
    for required in ("steps", "batch_size"):
        if required not in sections["train"]:
            raise RecordError(f"{origin}: train.{required} is required")
    train = _build(TrainConfig, {"out_dir": "", **sections["train"]}, "train", origin)
    evaluation = _build(EvalConfig, sections["eval"], "eval", origin)
    return Record(
        data=data,
        model={"name": name, **_primitives(dataclasses.asdict(config))},
        train={f.name: getattr(train, f.name) for f in train_fields},
        eval=evaluation,
    )


def added_since(mapping: Mapping[str, Any], record: Record) -> set[str]:
    """The model fields of ``record`` that the stored ``mapping`` it was parsed from
    does not name: those added to the code since it was stored. :func:`parse_record`
    gives them their defaults, which is what the stored run trained with (a new
    switch defaults to the behaviour before it existed)."""
    return set(record.model) - set(mapping.get("model", {})) - {"name"}


def parse_data_record(mapping: Mapping[str, Any], origin: str = "record") -> DataRecord:
    """The complete :class:`DataRecord` (``data`` and ``eval``, defaults filled) for
    the overrides ``mapping``; any other section is an error naming the allowed ones."""
    sections = _sections(mapping, origin, DATA_SECTIONS)
    return DataRecord(
        data=_build(DataConfig, sections["data"], "data", origin),
        eval=_build(EvalConfig, sections["eval"], "eval", origin),
    )


def parse_any_record(
    mapping: Mapping[str, Any], origin: str = "record"
) -> Record | DataRecord:
    """:func:`parse_record` for a record with a ``model`` section (a run that
    trains), else :func:`parse_data_record` (a chapter that trains nothing)."""
    if isinstance(mapping, Mapping) and "model" not in mapping:
        return parse_data_record(mapping, origin)
    return parse_record(mapping, origin)


def _sections(
    mapping: Mapping[str, Any], origin: str, allowed: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """Each of the ``allowed`` sections of ``mapping`` as a dict (``{}`` if absent)."""
    if not isinstance(mapping, Mapping):
        raise RecordError(f"{origin}: a record must be a mapping of {allowed}")
    _check_names(origin, mapping, allowed)
    sections = {}
    for section in allowed:
        values = mapping.get(section) or {}
        if not isinstance(values, Mapping):
            raise RecordError(
                f"{origin}: section {section!r} must be a mapping of key: value,"
                f" got {values!r}"
            )
        sections[section] = dict(values)
    return sections


def family_settings(model: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The settings of the model section ``model`` that model ``name`` shares with
    it: the fields of the most derived config class both models' configs extend
    (e.g. RJGAN's and RMoCoGAN's ``ResidualGANConfig``; none when they share none),
    without the clip sizes, which come from the data."""
    _, own = method_classes(model["name"])
    _, other = method_classes(name)
    for base in own.__mro__:
        if dataclasses.is_dataclass(base) and issubclass(other, base):
            return {
                f.name: model[f.name]
                for f in fields(base)
                if f.name in model and f.name not in FROM_DATA
            }
    return {}


def deviations(record: Record) -> list[str]:
    """The model settings of ``record`` that differ from the paper's (the defaults of
    its config class), one ``"name = value (paper: default)"`` line each."""
    _, config_class = method_classes(record.model["name"])
    paper = _primitives(dataclasses.asdict(config_class()))
    return [
        f"{name} = {value!r} (paper: {paper[name]!r})"
        for name, value in record.model.items()
        if name != "name" and value != paper[name]
    ]


def _build(cls: type, values: dict[str, Any], section: str, origin: str) -> Any:
    """``cls(**values)`` after checking names and types; errors name the key."""
    hints = typing.get_type_hints(cls)
    allowed = [f.name for f in fields(cls) if f.init and f.name != "out_dir"]
    given = {k: v for k, v in values.items() if not (k == "out_dir" and v == "")}
    _check_names(origin, given, allowed, section)
    checked = {
        key: _check_type(f"{origin}: {section}.{key}", value, hints[key])
        for key, value in values.items()
    }
    try:
        return cls(**checked)
    except (ValueError, TypeError) as e:
        raise RecordError(f"{origin}: section {section!r}: {e}") from None


def _check_names(
    origin: str, given: Mapping[str, Any], allowed: Any, section: str | None = None
) -> None:
    prefix, what = (f"{section}.", "key") if section else ("", "section")
    for name in given:
        if name not in allowed:
            hint = did_you_mean(name, allowed, fmt=prefix + "{}")
            raise RecordError(
                f"{origin}: unknown {what} {prefix}{name}; {hint}allowed:"
                f" {', '.join(allowed)}"
            )


def _check_type(where: str, value: Any, hint: Any) -> Any:
    """``value`` as ``hint`` wants it (lists become tuples), or a RecordError."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _check_type(where, value, option)
            except RecordError:
                continue
    elif hint is type(None) and value is None:
        return None
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    elif origin in (tuple, list) and isinstance(value, list | tuple):
        repeated = origin is list or (len(args) == 2 and args[1] is Ellipsis)
        if repeated:
            items = [_check_type(where, item, args[0]) for item in value]
            return tuple(items) if origin is tuple else items
        if len(args) == len(value):
            return tuple(
                _check_type(where, item, arg)
                for item, arg in zip(value, args, strict=True)
            )
    elif (origin is dict or hint is dict) and isinstance(value, Mapping):
        return dict(value)
    raise RecordError(
        f"{where} expects {_type_name(hint)}, got {value!r} ({type(value).__name__})"
    )


def _type_name(hint: Any) -> str:
    return (
        getattr(hint, "__name__", None)
        if not typing.get_args(hint)
        else str(hint).replace("typing.", "")
    )


def _primitives(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _primitives(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_primitives(v) for v in value]
    return value


def split_params(
    values: Mapping[str, Any], origin: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A params file's mapping split into record overrides (its ``data``, ``model``,
    ``train`` and ``eval`` sections, or dotted ``section.key`` names) and the
    chapter's other parameters."""
    record, other = {}, {}
    for name, value in values.items():
        section = str(name).partition(".")[0]
        (record if section in SECTIONS else other)[name] = value
    return nest(record, origin), other


def read_yaml(
    path: str | Path,
    expected: str = "a YAML mapping of parameter: value",
    shown: str | None = None,
) -> dict[str, Any]:
    """A YAML mapping from ``path`` (``{}`` for an empty file), or a RecordError
    naming the file (as ``shown``), the line and what was expected."""
    shown = shown or str(path)
    try:
        values = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        problem = getattr(e, "problem", None) or e
        raise RecordError(f"{shown} is not valid YAML{where}: {problem}") from None
    except OSError as e:
        raise RecordError(f"{shown} cannot be read: {e.strerror}") from None
    if not isinstance(values, dict | None):
        raise RecordError(f"{shown} must be {expected}")
    return values or {}


def read_params_file(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``split_params`` of a YAML params file (errors as :func:`read_yaml`)."""
    return split_params(read_yaml(path), str(path))


def notebook_record(source: str | Path) -> dict[str, Any]:
    """The smoke overrides: the ``record = {...}`` literal of the ``parameters`` cell
    of the MyST notebook ``source``."""
    source = Path(source)
    text = source.read_text()
    match = re.search(
        r"```\{code-cell\}[^\n]*\n:tags: \[parameters\]\n(.*?)```", text, re.DOTALL
    )
    if match is None:
        raise RecordError(f"{source} has no code cell tagged 'parameters'")
    for node in ast.parse(match[1]).body:
        target = getattr(node, "target", None) or getattr(node, "targets", [None])[0]
        if isinstance(target, ast.Name) and target.id == "record" and node.value:
            return nest(ast.literal_eval(node.value), str(source))
    raise RecordError(f"{source}: its parameters cell declares no 'record'")


def profile_record(
    slug: str, profile: str, root: str | Path | None = None
) -> Record | DataRecord:
    """The complete record of ``notebooks/<slug>`` at ``profile`` (``smoke``: the
    notebook's own overrides; others: ``notebooks/params/<slug>.<profile>.yaml``)."""
    notebooks = Path(root or Path(__file__).resolve().parents[1]) / "notebooks"
    path = notebooks / "params" / f"{slug}.{profile}.yaml"
    if not (notebooks / f"{slug}.md" if profile == "smoke" else path).is_file():
        raise RecordError(_no_profile(slug, profile, notebooks))
    if profile == "smoke":
        overrides, origin = notebook_record(notebooks / f"{slug}.md"), f"{slug}.md"
    else:
        overrides, origin = read_params_file(path)[0], str(path)
    return parse_any_record(overrides, origin)


def _no_profile(slug: str, profile: str, notebooks: Path) -> str:
    """Why ``slug`` has no record at ``profile``: an unknown chapter, or a chapter
    without that profile (with the close names and what exists)."""
    chapters = sorted(p.stem for p in notebooks.glob("*.md") if p.stem != "README")
    if slug not in chapters:
        return (
            f"unknown chapter {slug!r} (no {notebooks / slug}.md); "
            f"{did_you_mean(slug, chapters)}expected one of {', '.join(chapters)}"
        )
    found = sorted(
        p.name.split(".")[1] for p in notebooks.glob(f"params/{slug}.*.yaml")
    )
    return (
        f"{slug} has no {profile!r} profile (no {notebooks}/params/{slug}.{profile}"
        f".yaml); {did_you_mean(profile, found)}it has: {', '.join(['smoke', *found])}"
    )
