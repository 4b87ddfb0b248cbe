"""The book's Sphinx extension: pages built with sphinx-thebe carry no Thebe script
once ``vidlib.runner.sphinx_book`` is loaded (without it they do: the control)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sphinx.application import Sphinx


def built_page(tmp_path: Path, extensions: list[str]) -> str:
    source = tmp_path / "src"
    source.mkdir()
    (source / "conf.py").write_text(f"extensions = {extensions!r}\n")
    (source / "index.rst").write_text("Title\n=====\n\nText.\n")
    out = tmp_path / "html"
    app = Sphinx(
        source, source, out, tmp_path / "doctrees", "html", status=None, warning=None
    )
    app.build()
    return (out / "index.html").read_text()


@pytest.mark.parametrize("ours", [False, True])
def test_thebe_leaves_the_pages_only_with_the_book_extension(
    tmp_path: Path, ours: bool
) -> None:
    extensions = ["sphinx_thebe"] + ["vidlib.runner.sphinx_book"] * ours
    page = built_page(tmp_path, extensions)
    assert ("THEBE_JS_URL" in page) is not ours
    assert ("sphinx-thebe.js" in page) is not ours
    assert "sphinx-thebe.css" in page  # its stylesheet stays, served from the build
    assert (tmp_path / "html" / "_static" / "sphinx-thebe.css").is_file()
