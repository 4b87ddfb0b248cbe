"""Check every page of the built HTML book, statically and in headless Chromium.

Static checks (:mod:`html.parser`, every page):

* ``link``: every relative ``href``/``src`` names a file of the build, and its
  ``#fragment`` an ``id`` (or ``<a name>``) of the target page;
* ``outside-url``: nothing the browser fetches (scripts, stylesheets, icons, images,
  media, frames) points outside the build; ``<a href>`` to other sites are citations.

Browser checks (Debian's ``/usr/bin/chromium`` through Playwright, the build served on
127.0.0.1; every page in a new context, after its images, MathJax and widgets have
settled; :mod:`vidlib.runner.page_checks` holds those run inside the page):

* ``console`` / ``pageerror``: console errors and uncaught exceptions;
* ``outside-request``: a request to anything but the served origin (or a ``data:`` /
  ``blob:`` URL), aborted;
* ``image`` / ``video``: an ``<img>`` that did not load, a ``<video>`` without its
  metadata;
* ``math``: MathJax did not finish, or raw TeX is left in the visible text;
* ``widgets`` / ``explorer``: embedded widget views that did not render, and explorers
  (``.vidlib-explorer``) whose sliders do not change the displayed frame.

With ``screenshots``, each page is saved to ``_screenshots/<page>.png`` (the page's
path mirrored), and the first explorer of a page before and after its first axis
slider moves to ``_screenshots/<page>.explorer-before.png`` / ``-after.png``.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

from playwright.sync_api import Browser, Route, WebSocketRoute, sync_playwright

from vidlib.runner.errors import RunnerError, show
from vidlib.runner.page_checks import WAIT_MS, check_page

CHROMIUM = Path("/usr/bin/chromium")
#: no sandbox (CI runs as root), and none of Chromium's own calls home
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = "_screenshots"
#: Sphinx's asset folders (and the screenshots): files there are not pages
ASSET_DIRS = {"_static", "_sources", "_images", "_downloads", SCREENSHOTS}
#: ``<link rel>`` values whose ``href`` the browser fetches
FETCHED_RELS = {"stylesheet", "icon", "preload", "modulepreload", "prefetch"}
#: attributes whose URL the browser fetches, per tag
FETCHED = {
    "script": "src",
    "img": "src",
    "source": "src",
    "video": "src",
    "audio": "src",
    "iframe": "src",
    "embed": "src",
}
#: schemes that name no file of the build and nothing the browser fetches at load
IGNORED_SCHEMES = {"mailto", "data", "javascript", "blob", "tel"}
VIEWPORT = {"width": 1280, "height": 900}

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    """One failed check: the page (relative to the HTML folder), its kind, what."""

    page: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.page}: {self.kind}: {self.detail}"


def find_pages(html_dir: Path) -> list[Path]:
    """Every ``.html`` file of the build outside the asset folders: the toc's pages,
    ``index.html`` (a redirect), and Sphinx's ``genindex.html`` and ``search.html``,
    which every page's sidebar links and whose scripts can fail like any page's."""
    return sorted(
        path
        for path in html_dir.rglob("*.html")
        if path.relative_to(html_dir).parts[0] not in ASSET_DIRS
    )


def check_pages(html_dir: Path, screenshots: bool = True) -> list[Problem]:
    """Every problem of every page of the book built in ``html_dir`` (module doc)."""
    html_dir = Path(html_dir).resolve()
    if not (html_dir / "index.html").is_file():
        raise RunnerError(
            f"no built book in {show(html_dir)} (no index.html): build one with "
            "`make book` (_build/html) or `make smoke-book` (_build/smoke/_build/html)"
        )
    pages = find_pages(html_dir)
    static = static_problems(html_dir, pages)
    # an outside script (say) is found twice: as a URL of the page, and blocked
    found = {(p.page, p.detail) for p in static if p.kind == "outside-url"}
    return static + [
        p
        for p in browser_problems(html_dir, pages, screenshots)
        if not (p.kind == "outside-request" and (p.page, p.detail) in found)
    ]


# --- static checks -------------------------------------------------------------------


class _PageParser(HTMLParser):
    """The ids of a page and its URLs: ``(url, fetched)``, ``fetched`` when the browser
    loads the URL with the page (a script, an image, ...) rather than on a click."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.urls: list[tuple[str, bool]] = []
        self.redirect = False  # a <meta http-equiv="refresh"> page

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v for k, v in attrs if v is not None}
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "name" in a:
            self.ids.add(a["name"])
        if tag == "link" and "href" in a:
            rels = set(a.get("rel", "").lower().split())
            self.urls.append((a["href"], bool(rels & FETCHED_RELS)))
        elif tag == "a" and "href" in a:
            self.urls.append((a["href"], False))
        elif tag in FETCHED and FETCHED[tag] in a:
            self.urls.append((a[FETCHED[tag]], True))
        if tag == "video" and "poster" in a:
            self.urls.append((a["poster"], True))
        refresh = tag == "meta" and a.get("http-equiv", "").lower() == "refresh"
        # "0; url=book/intro.html": index.html's redirect to the first page
        if refresh and (match := re.search(r"url=(.+)", a.get("content", ""), re.I)):
            self.urls.append((match.group(1).strip(" '\""), False))
            self.redirect = True


@functools.cache
def _parse(path: Path) -> _PageParser:
    parser = _PageParser()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    parser.close()
    return parser


def static_problems(html_dir: Path, pages: list[Path]) -> list[Problem]:
    """``link`` and ``outside-url`` problems of ``pages`` (module doc)."""
    _parse.cache_clear()  # a rebuilt book has new files under the same paths
    problems = []
    for page in pages:
        name = page.relative_to(html_dir).as_posix()
        for url, fetched in _parse(page).urls:
            parts = urlsplit(url)
            if parts.scheme in ("http", "https") or url.startswith("//"):
                if fetched:
                    problems.append(Problem(name, "outside-url", url))
            elif parts.scheme in IGNORED_SCHEMES:
                continue
            elif parts.scheme:  # file:, or anything else a reader's browser can't use
                problems.append(Problem(name, "link", f"{url}: not a URL of the build"))
            elif detail := _broken(html_dir, page, parts.path, parts.fragment):
                problems.append(Problem(name, "link", f"{url}: {detail}"))
    return problems


def _broken(html_dir: Path, page: Path, path: str, fragment: str) -> str | None:
    """Why the relative URL ``path#fragment`` on ``page`` does not resolve, or None."""
    path = unquote(path)
    if path.startswith("/"):
        target = html_dir / path.lstrip("/")
    else:
        target = page.parent / path if path else page
    # normpath, not resolve: a link inside the build is served as it is
    target = Path(os.path.normpath(target))
    if not target.is_relative_to(html_dir):
        return "outside the build"
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return f"no file {show(target)}"
    anchor = unquote(fragment)
    if anchor and target.suffix == ".html" and anchor not in _parse(target).ids:
        return f"no id {anchor!r} in {target.relative_to(html_dir).as_posix()}"
    return None


# --- browser checks ------------------------------------------------------------------


@contextmanager
def serve(html_dir: Path) -> Iterator[str]:
    """Serve ``html_dir`` on 127.0.0.1 (a free port) in a thread; yield the origin."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass  # a 404 reaches the page as a console error, reported there

    handler = functools.partial(Quiet, directory=str(html_dir))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}"
        finally:
            server.shutdown()
            thread.join()


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (never its own browsers)."""
    if not CHROMIUM.is_file():
        raise RunnerError(
            f"no Chromium at {CHROMIUM}: the page checker drives Debian's Chromium; "
            "install it with: apt-get install -y chromium"
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def browser_problems(
    html_dir: Path, pages: list[Path], screenshots: bool = True
) -> list[Problem]:
    """The browser checks of the module doc. Each page opens in a new browser
    context, as on a first visit (nothing stored by an earlier page); redirect pages
    are left out (their target is checked as a page of its own)."""
    shots = html_dir / SCREENSHOTS if screenshots else None
    if shots:
        shutil.rmtree(shots, ignore_errors=True)  # no picture of a page gone
    problems: list[Problem] = []
    with serve(html_dir) as origin, chromium() as browser:
        for path in pages:
            if _parse(path).redirect:
                continue
            name = path.relative_to(html_dir).as_posix()
            start = time.perf_counter()
            found = _browse(browser, origin, name, shots)
            problems += found
            seconds = time.perf_counter() - start
            log.info("%s: %d problem(s), %.1f s", name, len(found), seconds)
    return problems


def _browse(
    browser: Browser, origin: str, name: str, shots: Path | None
) -> list[Problem]:
    """Open page ``name`` of the book served at ``origin`` in a new context, every
    request outside ``origin`` aborted and reported, and run
    :func:`~vidlib.runner.page_checks.check_page` on it."""
    problems: list[Problem] = []
    blocked: set[str] = set()

    def route(route: Route) -> None:
        url = route.request.url
        if url.startswith((f"{origin}/", "data:", "blob:")):
            route.continue_()
        else:
            blocked.add(url)
            problems.append(Problem(name, "outside-request", url))
            route.abort()

    def route_socket(socket: WebSocketRoute) -> None:
        problems.append(Problem(name, "outside-request", socket.url))
        socket.close()

    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(WAIT_MS)
    context.route("**/*", route)
    context.route_web_socket(re.compile(".*"), route_socket)
    shot = shots / Path(name).with_suffix("") if shots else None
    try:
        found = check_page(context.new_page(), f"{origin}/{name}", blocked, shot)
    finally:
        context.close()
    return problems + [Problem(name, kind, detail) for kind, detail in found]
