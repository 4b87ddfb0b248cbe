"""JupyterLab opens the chapters as notebooks, through jupytext, and saves them
unchanged: a real server, started as ``make lab`` starts it, on a copy of the
chapters, driven through the REST contents API."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from vidlib.results import ROOT

CHAPTERS = sorted(path.name for path in (ROOT / "notebooks").glob("*.md"))
# a chapter whose front matter has keys of its own (``vidlib: needs``, ``mystnb``),
# which a save must keep
CHAPTER = "avlae.md"
STARTUP_S = 60  # about 5 s on two loaded cores


def lab_options(makefile: Path = ROOT / "Makefile") -> list[str]:
    """The jupytext options ``make lab`` gives the server (the Makefile's
    LAB_JUPYTEXT), so that this test checks the server ``make lab`` starts."""
    text = makefile.read_text()
    recipe = re.search(r"^lab:.*?\n\n", text, flags=re.MULTILINE | re.DOTALL)
    assert recipe and "$(LAB_JUPYTEXT)" in recipe.group(), "make lab: no LAB_JUPYTEXT"
    return re.search(r"^LAB_JUPYTEXT := (.+)$", text, flags=re.MULTILINE)[1].split()


def test_make_lab_filters_metadata_as_pyproject_does() -> None:
    """The jupytext CLI reads pyproject.toml; the lab cannot (outside its root)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["jupytext"]
    option = "--JupytextConfiguration.notebook_metadata_filter="
    assert lab_options() == [option + config["notebook_metadata_filter"]]


@dataclass
class Lab:
    url: str
    token: str
    root: Path

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """A contents API request: its status and JSON answer."""
        request = urllib.request.Request(
            f"{self.url}api/contents/{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """``jupyter lab`` on a copy of the chapters, on a free loopback port (0: the OS
    picks it; the server writes it into its runtime file)."""
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "notebooks"
    root.mkdir()
    for chapter in CHAPTERS:
        shutil.copy2(ROOT / "notebooks" / chapter, root / chapter)
    runtime = tmp / "runtime"
    # the user's Jupyter, JupyterLab and jupytext settings must not apply
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp / "config"),
        "JUPYTER_RUNTIME_DIR": str(runtime),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
        "XDG_CONFIG_HOME": str(tmp / "config"),
    }
    token = secrets.token_hex(16)
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root"]
    cmd += ["--ip=127.0.0.1", "--port=0", "--ServerApp.port_retries=0"]
    cmd += [f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"]
    cmd += lab_options()
    log = tmp / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield Lab(url=server_url(server, runtime, log), token=token, root=root)
    finally:
        server.terminate()  # SIGTERM: the server stops its kernels and exits
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def server_url(server: subprocess.Popen, runtime: Path, log: Path) -> str:
    """The URL in the server's runtime file, once the server answers on it (the file
    can name the port a moment before requests to it are served)."""
    info = runtime / f"jpserver-{server.pid}.json"
    deadline = time.monotonic() + STARTUP_S
    while server.poll() is None and time.monotonic() < deadline:
        try:
            url = json.loads(info.read_text())["url"]
            with urllib.request.urlopen(f"{url}api", timeout=5) as response:
                json.load(response)  # the server's version, no token needed
            return url
        except (OSError, ValueError):  # no file yet, half written, or not serving
            time.sleep(0.1)
    pytest.fail(f"jupyter lab did not start:\n{log.read_text()[-3000:]}")


def test_the_chapters_are_listed_as_notebooks(lab: Lab) -> None:
    status, folder = lab.call("GET", "")
    assert status == 200
    entries = {entry["name"]: entry["type"] for entry in folder["content"]}
    assert CHAPTER in entries
    assert entries == dict.fromkeys(CHAPTERS, "notebook")


def test_the_chapter_opens_as_a_notebook(lab: Lab) -> None:
    status, model = lab.call("GET", f"{CHAPTER}?type=notebook")
    assert status == 200
    assert model["type"] == "notebook"
    notebook = model["content"]
    assert notebook["nbformat"] == 4
    assert notebook["metadata"]["jupytext"]["formats"] == "md:myst"
    assert notebook["metadata"]["vidlib"]["needs"]
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert len(code) > 1
    assert "parameters" in code[0]["metadata"].get("tags", [])


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_saving_a_chapter_unchanged_keeps_the_file_byte_identical(
    lab: Lab, chapter: str
) -> None:
    path = lab.root / chapter
    before = path.read_bytes()
    _, model = lab.call("GET", f"{chapter}?type=notebook")
    status, saved = lab.call(
        "PUT",
        chapter,
        {"type": "notebook", "format": "json", "content": model["content"]},
    )
    assert status == 200
    assert saved["type"] == "notebook"
    after = path.read_bytes()
    assert after == before, "saving in JupyterLab rewrote the chapter"
