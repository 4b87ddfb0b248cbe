"""Every code listing a chapter includes (``literalinclude`` with ``:pyobject:``) names
a class, function or method that exists, so moving code cannot break the book build
unnoticed until the book is built."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = re.compile(r"```\{literalinclude\} (\S+)\n:pyobject: (\S+)")
LISTINGS = [
    (notebook.name, match[1], match[2])
    for notebook in sorted((ROOT / "notebooks").glob("*.md"))
    for match in INCLUDE.finditer(notebook.read_text())
]


def defined(tree: ast.AST, dotted: str) -> bool:
    scope: list[ast.stmt] = tree.body
    for name in dotted.split("."):
        found = [
            node
            for node in scope
            if isinstance(node, ast.ClassDef | ast.FunctionDef) and node.name == name
        ]
        if not found:
            return False
        scope = found[0].body
    return True


def test_the_chapters_include_code() -> None:
    assert len(LISTINGS) > 20


@pytest.mark.parametrize(("notebook", "path", "obj"), LISTINGS)
def test_each_listing_names_an_object_that_exists(notebook, path, obj) -> None:
    source = ROOT / path.lstrip("/")
    assert source.is_file(), f"{notebook}: {path} does not exist"
    tree = ast.parse(source.read_text())
    assert defined(tree, obj), f"{notebook}: {obj} is not defined in {path}"
