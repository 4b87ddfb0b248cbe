"""The page checker (:mod:`vidlib.runner.pages`) on a small synthetic site: a good page
passes, and each page with one defect gives exactly that problem.

The site is checked once for the module (one Chromium launch). Its good explorer is
:func:`vidlib.explorer.explorer` itself, its defective ones keep that DOM contract
(nested Stacks of Images tied to the sliders by jsdlink); all are rendered by the
widget manager the book serves (:func:`vidlib.runner.vendor.vendor_widgets`, with
``book/static/widget-paths.js`` for its fonts). The math pages load the MathJax the
book serves.
"""

from __future__ import annotations

import io
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import ipywidgets as widgets
import jupyter_server_mathjax
import numpy as np
import pytest
import torch
from ipywidgets.embed import dependency_state, embed_data
from PIL import Image

from vidlib.explorer import explorer
from vidlib.results import ROOT
from vidlib.runner import cli, page_checks, pages
from vidlib.runner.pages import Problem, check_pages
from vidlib.runner.vendor import vendor_widgets

#: loads the widget manager (paths relative to the site's root)
WIDGETS_JS = """<script src="_static/widgets/require.js"></script>
<script src="_static/widget-paths.js"></script>
<script src="_static/widgets/embed-amd.js"></script>"""
#: MathJax 2 as the book configures it; MathJax_Blank's url('about:blank') font is
#: replaced, since Chromium reports a blocked font load for it on every page
MATHJAX_JS = """<script type="text/x-mathjax-config">MathJax.Hub.Config({"HTML-CSS": {
  "availableFonts": [], "preferredFont": null, "webFont": "STIX-Web",
  "styles": {"@font-face": {"font-family": "MathJax_Blank",
    "src": "local('MathJax_Blank')"}}},
  "tex2jax": {"processClass": "math"}})</script>
<script defer src="_static/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full">
</script>"""

#: page -> (its body, the kinds of problem it must give, in order)
SITE: dict[str, tuple[str, list[str]]] = {
    "index.html": (
        """<p id="top">A citation: <a href="https://example.org/paper">paper</a>,
        <a href="mailto:a@example.org">mail</a>, <a href="#">top</a>,
        <a href="#top">top</a>, <a href="sub/other.html#target">other</a>,
        <a href="sub/">a folder</a>.</p>
        <p>Prices of $5 and $6 are no math; <code>\\(x\\)</code> and
        <code>$x_1$</code> are code.</p><pre>\\[ y \\]</pre>
        <img src="pixel.png">
        <img src="pixel.png" loading="lazy" style="margin-top: 3000px">
        <video src="clip.webm" preload="none"></video>""",
        [],
    ),
    "sub/index.html": ('<a href="../index.html#top">back</a>', []),
    "sub/other.html": ('<p id="target">target</p>', []),
    "console.html": ("<script>console.error('boom')</script>", ["console"]),
    "pageerror.html": ("<script>throw new Error('bang')</script>", ["pageerror"]),
    "fetch.html": (
        "<script>fetch('OTHER/data.json').catch(() => {})</script>",
        ["outside-request"],
    ),
    "outside_script.html": (
        '<script src="https://cdn.example.org/lib.js"></script>',
        ["outside-url"],
    ),
    "broken_image.html": ('<img src="broken.png">', ["image"]),
    "broken_video.html": ('<video src="broken.webm"></video>', ["video"]),
    "raw_tex.html": ("<p>Energy \\(E = mc^2\\).</p>", ["math"]),
    "raw_dollar.html": ("<p>The loss $\\mathcal L_1$ is small.</p>", ["math"]),
    "broken_link.html": ('<a href="missing.html">gone</a>', ["link"]),
    "broken_fragment.html": ('<a href="sub/other.html#nowhere">gone</a>', ["link"]),
    "typeset.html": (
        f'{MATHJAX_JS}<p><span class="math">\\(x^2\\)</span></p>',
        [],
    ),
    "not_typeset.html": (
        f'{MATHJAX_JS}<div class="tex2jax_ignore">\\(x^2\\)</div>',
        ["math"],
    ),
    "tex_error.html": (
        f'{MATHJAX_JS}<p><span class="math">\\(\\foo{{y}}\\)</span></p>',
        ["math"],
    ),
    "explorer.html": ("EXPLORER", []),
    "explorer_frozen.html": ("FROZEN", ["explorer"]),
    "explorer_broken.html": ("BROKEN", ["explorer", "explorer"]),
}


def png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (value, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def webm() -> bytes:
    """A 4-frame 16×16 VP8 clip."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="webm") as container:
        stream = container.add_stream("libvpx", rate=4)
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        for i in range(4):
            rgb = np.full((16, 16, 3), 60 * i, np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def embedded(root: widgets.Widget) -> str:
    """``root`` as a page embeds it: the widget state and a view of ``root``."""
    data = embed_data(views=[root], state=dependency_state([root]))
    return (
        f'{WIDGETS_JS}<script type="application/vnd.jupyter.widget-state+json">'
        f"{json.dumps(data['manager_state'])}</script>"
        '<script type="application/vnd.jupyter.widget-view+json">'
        f"{json.dumps(data['view_specs'][0])}</script>"
    )


def frozen_explorer() -> widgets.VBox:
    """A two-code, three-frame explorer whose frame slider is tied to nothing."""
    axis = widgets.IntSlider(0, min=0, max=1)
    axis.add_class("vidlib-explorer-axis")
    frame = widgets.IntSlider(0, min=0, max=2)
    frame.add_class("vidlib-explorer-frame")
    clips = []
    for code in range(2):
        images = [widgets.Image(value=png(100 * code + 40 * t)) for t in range(3)]
        clips.append(widgets.Stack(images, selected_index=0))
    clip = widgets.Stack(clips, selected_index=0)
    widgets.jsdlink((axis, "value"), (clip, "selected_index"))
    root = widgets.VBox([axis, frame, clip])
    root.add_class("vidlib-explorer")
    return root


def broken_explorer() -> widgets.VBox:
    """An explorer with no frame slider and an axis slider of one value."""
    axis = widgets.IntSlider(0, min=0, max=0)
    axis.add_class("vidlib-explorer-axis")
    root = widgets.VBox([axis, widgets.Image(value=png(0))])
    root.add_class("vidlib-explorer")
    return root


@pytest.fixture(scope="module")
def other_origin() -> Iterator[tuple[str, list[str]]]:
    """Another origin on this machine (another port): its URL, and the paths it was
    asked for, which must stay none (the checker aborts every request to it)."""
    asked: list[str] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            asked.append(self.path)
            self.send_response(200)
            self.end_headers()

    with ThreadingHTTPServer(("127.0.0.1", 0), Recorder) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_port}", asked
        server.shutdown()


@pytest.fixture(scope="module")
def site(
    tmp_path_factory: pytest.TempPathFactory, other_origin: tuple[str, list[str]]
) -> Path:
    root = tmp_path_factory.mktemp("site")
    bodies = {
        "EXPLORER": embedded(explorer(torch.rand(2, 2, 3, 3, 8, 8) * 2 - 1)),
        "FROZEN": embedded(frozen_explorer()),
        "BROKEN": embedded(broken_explorer()),
    }
    for name, (body, _) in SITE.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            # data-content_root: where widget-paths.js finds _static, as in Sphinx
            f'<!DOCTYPE html><html data-content_root="{"../" * name.count("/")}">'
            f"<head><title>{name}</title></head>"
            f"<body>{bodies.get(body, body).replace('OTHER', other_origin[0])}"
            "</body></html>"
        )
    (root / "pixel.png").write_bytes(png(128))
    (root / "clip.webm").write_bytes(webm())
    (root / "broken.png").write_bytes(b"not a png")
    (root / "broken.webm").write_bytes(b"not a video")
    vendor_widgets(target=root / "_static" / "widgets")
    shutil.copy2(ROOT / "book" / "static" / "widget-paths.js", root / "_static")
    mathjax = Path(jupyter_server_mathjax.__file__).parent / "static"
    (root / "_static" / "mathjax").symlink_to(mathjax)
    return root


@pytest.fixture(scope="module")
def problems(site: Path) -> list[Problem]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            page_checks, "STEP_MS", 500
        )  # the frozen explorer waits this long
        return check_pages(site)


@pytest.mark.parametrize("name", SITE)
def test_each_page_gives_exactly_its_problems(
    name: str, problems: list[Problem]
) -> None:
    found = [p for p in problems if p.page == name]
    assert [p.kind for p in found] == SITE[name][1], found


def test_the_problems_name_what_is_wrong(
    problems: list[Problem], other_origin: tuple[str, list[str]]
) -> None:
    detail = {p.page: p.detail for p in problems}
    assert "boom" in detail["console.html"]
    assert detail["pageerror.html"] == "bang"
    assert detail["fetch.html"] == f"{other_origin[0]}/data.json"
    assert other_origin[1] == []  # aborted, never sent
    assert detail["outside_script.html"] == "https://cdn.example.org/lib.js"
    assert detail["broken_image.html"].endswith("/broken.png")
    assert "broken.webm" in detail["broken_video.html"]
    assert "E = mc^2" in detail["raw_tex.html"]
    assert "\\mathcal L_1" in detail["raw_dollar.html"]
    assert "\\foo" in detail["tex_error.html"]  # as MathJax shows what it can't parse
    assert detail["broken_link.html"].startswith("missing.html: no file ")
    assert detail["broken_fragment.html"] == (
        "sub/other.html#nowhere: no id 'nowhere' in sub/other.html"
    )
    assert detail["explorer_frozen.html"] == (
        "explorer 1: frame slider: ArrowRight moved it from 0 to 1,"
        " the displayed frame stayed"
    )
    assert [p.detail for p in problems if p.page == "explorer_broken.html"] == [
        "explorer 1: 0 frame sliders",
        "explorer 1: axis slider 1: one value (0): nothing to move",
    ]


def test_screenshots_of_every_page_and_of_an_explorer_moved(
    site: Path, problems: list[Problem]
) -> None:
    shots = site / pages.SCREENSHOTS
    assert {p.relative_to(shots).as_posix() for p in shots.rglob("*.png")} >= {
        "index.png",
        "sub/other.png",
        "explorer.png",
    }
    before = shots / "explorer.explorer-before.png"
    after = shots / "explorer.explorer-after.png"
    assert before.read_bytes() != after.read_bytes()


def test_no_book_no_chromium_or_two_folders_is_bad_input(
    tmp_path: Path, site: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    assert cli.main(["check-pages", str(tmp_path)]) == 2
    assert f"no built book in {tmp_path} (no index.html)" in capsys.readouterr().err
    assert cli.main(["check-pages", str(site), "--profile", "smoke"]) == 2
    assert "give DIR or --profile (not both)" in capsys.readouterr().err
    monkeypatch.setattr(pages, "CHROMIUM", tmp_path / "chromium")
    assert cli.main(["check-pages", str(site), "--no-screenshots"]) == 2
    err = capsys.readouterr().err
    assert f"no Chromium at {tmp_path / 'chromium'}" in err
    assert "apt-get install -y chromium" in err


def test_the_command_fails_on_problems_and_says_where_the_pictures_are(
    site: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    found = [Problem("index.html", "console", "boom")]
    monkeypatch.setattr(cli, "check_pages", lambda html, screenshots: found)
    assert cli.main(["check-pages", str(site)]) == 1
    out = capsys.readouterr().out
    assert "index.html: console: boom\n" in out
    assert f"pages of {site} checked" in out
    assert f"screenshots: {site / pages.SCREENSHOTS}" in out
    monkeypatch.setattr(cli, "check_pages", lambda html, screenshots: [])
    assert cli.main(["check-pages", str(site)]) == 0
