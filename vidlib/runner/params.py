"""A run's parameters: the params file, a grid variant and ``-p``, merged and checked.

Layers, later ones winning:

1. the notebook's ``record`` literal, or ``notebooks/params/<slug>.<profile>.yaml``
   (required for every profile but smoke): its record sections (``data``, ``model``,
   ``train``, ``eval``, see :func:`vidlib.record.split_params`) *replace* the
   notebook's record; its other keys are chapter knobs;
2. a grid variant's overrides (record settings, nested or ``section.key``);
3. ``-p NAME VALUE``: ``-p model.ngf 16`` (VALUE parsed as a literal or YAML, then
   type-checked by the record) or ``-p steps 5`` (cast to the knob's declared type).

The merged record is validated with :func:`vidlib.record.parse_any_record` after each
layer, so an error names the layer that brought the bad key; nothing runs before.
"""

from __future__ import annotations

import argparse
import ast
import re
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vidlib.hints import did_you_mean
from vidlib.record import (
    SECTIONS,
    Record,
    RecordError,
    merge,
    parse_any_record,
    split_params,
)
from vidlib.record import (
    read_yaml as record_yaml,
)
from vidlib.runner.errors import RunnerError, show
from vidlib.runner.notebooks import RECORD, RUNNER_PARAMS, Notebook, Param

PROFILES = ("smoke", "cpu", "gpu", "paper")
KINDS = {
    "int": int,
    "float": float,
    "bool": bool,
    "str": str,
    "list": list,
    "dict": dict,
}
TRUE, FALSE = {"true", "yes", "on", "1"}, {"false", "no", "off", "0"}


@dataclass
class Params:
    """What a run injects: the chapter knobs and the record's merged overrides."""

    knobs: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] | None = None  # nested; None: no record declared
    record: Record | None = None  # ``overrides`` with the defaults filled in

    def injected(self, profile: str) -> dict[str, Any]:
        record = {} if self.overrides is None else {RECORD: self.overrides}
        return {**self.knobs, **record, "profile": profile}

    def hashed(self, profile: str) -> dict[str, Any]:
        record = {} if self.record is None else {RECORD: self.record.as_dict()}
        return {**self.knobs, **record, "profile": profile}


def check_profile(profile: str) -> None:
    if profile not in PROFILES:
        choices = ", ".join(PROFILES)
        raise RunnerError(f"unknown profile {profile!r}; choose one of {choices}")


def params_file(slug: str, profile: str, folder: Path) -> Path:
    """``notebooks/params/<slug>.<profile>.yaml``."""
    return folder / "params" / f"{slug}.{profile}.yaml"


def has_profile(slug: str, profile: str, folder: Path) -> bool:
    """Whether chapter ``slug`` runs at ``profile`` (smoke always; others with a
    params file). A chapter is not needed at a profile it does not have: G3AN's
    paper profile reads no MoCoGAN run, as MoCoGAN has no paper profile."""
    return profile == "smoke" or params_file(slug, profile, folder).is_file()


def read_yaml(
    path: Path, expected: str = "a YAML mapping of parameter: value"
) -> dict[str, Any]:
    """A YAML mapping, or an error naming the file, the line and what was expected."""
    try:
        return record_yaml(path, expected, show(path))
    except RecordError as e:
        raise RunnerError(str(e)) from None


def resolve(
    notebook: Notebook,
    profile: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    folder: Path,
    variant: tuple[str, Mapping[str, Any]] | None = None,
) -> Params:
    """The checked parameters of ``notebook`` at ``profile``: params file, then the
    grid ``variant`` (origin, overrides), then ``overrides`` (``-p``)."""
    check_profile(profile)
    path = params_file(notebook.slug, profile, folder)
    if not path.is_file() and profile != "smoke":
        raise RunnerError(f"profile {profile!r} needs the file {show(path)}")
    cli = {
        name: parse_text(value)
        if _is_record_name(name) and isinstance(value, str)
        else value
        for name, value in (overrides or {}).items()
    }
    layers = [(show(path), read_yaml(path))] if path.is_file() else []
    layers += [variant] if variant else []
    layers += [("-p", cli)]
    try:
        return _merge(notebook, layers, file_first=path.is_file())
    except RecordError as e:
        raise RunnerError(str(e)) from None


def _merge(
    notebook: Notebook, layers: list[tuple[str, Mapping[str, Any]]], file_first: bool
) -> Params:
    params = Params(overrides=notebook.record)
    if notebook.record is not None:
        origin = f"{show(notebook.source)} (parameters cell)"
        params.record = parse_any_record(notebook.record, origin)
    for i, (origin, values) in enumerate(layers):
        if notebook.record is None:
            record, other = {}, dict(values)
        else:
            record, other = split_params(values, origin)
        for name, value in other.items():  # first: a misspelt section is a knob
            params.knobs[name] = _knob(notebook, name, value, origin)
        if i == 0 and file_first and notebook.record is not None:
            if not record:
                raise RunnerError(
                    f"{origin} sets no record section ({', '.join(SECTIONS)}); it"
                    f" replaces the record of {show(notebook.source)}, so it must hold"
                    " the profile's whole record overrides"
                )
            params.overrides = record
        elif record:
            params.overrides = merge(params.overrides or {}, record)
        if record:
            params.record = parse_any_record(params.overrides, origin)
    return params


def _is_record_name(name: str) -> bool:
    return str(name).partition(".")[0] in SECTIONS


def _knob(notebook: Notebook, name: str, value: Any, origin: str) -> Any:
    """``value`` of the chapter knob ``name``, cast to its declared type."""
    if name in RUNNER_PARAMS:
        raise RunnerError(f"parameter {name!r} is set by the runner ({origin})")
    if name == RECORD and notebook.record is not None:
        raise RunnerError(
            f"{origin}: set the record by its sections ({', '.join(SECTIONS)}) or"
            " with -p section.key VALUE, not as 'record'"
        )
    allowed = notebook.knobs + (list(SECTIONS) if notebook.record is not None else [])
    if name not in notebook.declared:
        hint = did_you_mean(name, allowed, fmt="{!r}")
        raise RunnerError(
            f"unknown parameter {name!r} for {show(notebook.source)} (from {origin});"
            f" {hint}allowed: {', '.join(allowed)}"
        )
    return cast_value(notebook.declared[name], value, origin)


def cast_value(param: Param, value: Any, origin: str) -> Any:
    """Cast ``value`` to ``param``'s declared type, parsing strings (e.g. from -p)."""
    kind = param.annotation.replace(" ", "")
    optional = bool(m := re.fullmatch(r"Optional\[(.+)\]|(.+)\|None", kind))
    kind = re.sub(r"^(list|dict)\[.*\]$", r"\1", m[1] or m[2] if m else kind)
    if kind == "None":  # not annotated: the type of the default literal, if any
        with suppress(ValueError, SyntaxError):
            default = ast.literal_eval(param.default)
            kind = type(default).__name__ if default is not None else "None"
        optional = True
    if kind not in KINDS and kind != "None":
        raise RunnerError(
            f"parameter {param.name!r} has unsupported annotation {param.annotation!r}"
            " (use int, float, bool, str, list, dict, Optional[...])"
        )
    if optional and (value is None or str(value).strip().lower() in ("none", "null")):
        return None
    if isinstance(value, str) and kind != "str":
        text = value.strip()
        if kind == "bool" and text.lower() in TRUE | FALSE:
            return text.lower() in TRUE
        with suppress(ValueError):
            value = {"int": int, "float": float}.get(kind, parse_text)(text)
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    wanted = KINDS.get(kind, object)
    if isinstance(value, wanted) and not (kind == "int" and isinstance(value, bool)):
        return value
    raise RunnerError(
        f"parameter {param.name!r} expects {param.annotation}, got {value!r}"
        f" (from {origin})"
    )


def parse_text(text: str) -> Any:
    """A Python literal, else YAML (``[a, b]``, ``true``), else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError:
            return text


def add_overrides_option(parser: argparse.ArgumentParser, what: str) -> None:
    """The ``-p NAME VALUE`` option (repeatable) into ``args.overrides``; read the
    values with :func:`parse_text` (:func:`parse_overrides`)."""
    parser.add_argument(
        "-p",
        dest="overrides",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help=what,
    )


def parse_overrides(pairs: list[list[str]]) -> dict[str, Any]:
    """``-p`` pairs as ``{name: value}``, each value through :func:`parse_text`."""
    return {name: parse_text(value) for name, value in pairs}
