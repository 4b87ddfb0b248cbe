"""The checks run inside one open page of the book (:mod:`vidlib.runner.pages` opens
it): console errors and uncaught exceptions, images and videos, MathJax and raw TeX,
widget views, and explorers (``.vidlib-explorer``: each slider moved by a key press
must change the displayed frame). Each finding is ``(kind, detail)``.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin

from playwright.sync_api import ConsoleMessage, Locator, Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

#: a finding: (kind, detail)
Found = tuple[str, str]
WAIT_MS = 15_000  # images, MathJax, widgets: each must settle within this
STEP_MS = 3_000  # an explorer's frame must change within this after a key press

WIDGET_VIEWS = 'script[type="application/vnd.jupyter.widget-view+json"]'
#: the html-manager inserts a div.widget-subarea before each view script it renders
WIDGETS_RENDERED = f"""() => [...document.querySelectorAll('{WIDGET_VIEWS}')]
    .every(s => s.previousElementSibling?.matches('.widget-subarea:not(:empty)'))"""
#: lazy images and preload="none" videos load only when asked to
LOAD_MEDIA = """() => {
    for (const img of document.images) img.loading = 'eager';
    for (const video of document.querySelectorAll('video')) {
        if (video.preload === 'none') { video.preload = 'metadata'; video.load(); }
    }
}"""
MEDIA_SETTLED = """() => [...document.images].every(img => img.complete)
    && [...document.querySelectorAll('video')]
        .every(v => v.readyState >= 1 || v.error || v.networkState === 3)"""
BROKEN_IMAGES = """() => [...document.images]
    .filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.src)"""
BROKEN_VIDEOS = """() => [...document.querySelectorAll('video')]
    .filter(v => v.readyState < 1)
    .map(v => `${v.currentSrc || v.src || v.querySelector('source')?.src}`
        + (v.error ? ` (media error ${v.error.code})` : ''))"""
#: resolves true once MathJax 2 has started and typeset everything queued
MATHJAX_DONE = """ms => new Promise(resolve => {
    setTimeout(() => resolve(false), ms);
    // braces: a hook that returns the queued callback would make End wait for it
    const queue = () => { MathJax.Hub.Queue(() => resolve(true)); };
    MathJax.Hub.Register.StartupHook('End', queue);
})"""
#: what a reader sees outside code: innerText skips display:none, so code is hidden
#: for the moment it is read
VISIBLE_TEXT = """() => {
    const style = document.createElement('style');
    style.textContent = 'pre, code, script, style, textarea {display: none !important}';
    document.head.append(style);
    const text = document.body.innerText;
    style.remove();
    return text;
}"""
#: TeX delimiters MathJax removes when it typesets (\( \) \[ \] $$), and TeX
#: commands: MathJax shows math it cannot parse (\frac{x) or a command it does not
#: know (\foo) as its source, without the delimiters
RAW_TEX = re.compile(r"\\[()[\]]|\$\$|\\[A-Za-z]+")
#: $...$ as dollarmath reads it (no space inside the dollars, no digit after), around
#: something TeX-like: a command, a sub/superscript or a brace
DOLLAR_MATH = re.compile(r"\$(?=\S)([^$\n]{1,200}?)(?<=\S)\$(?!\d)")
TEX_LIKE = re.compile(r"\\[A-Za-z]+|[_^{}]")
#: the explorer's displayed frame: the img elements with a box (a Stack shows one
#: child; the others are hidden or not rendered)
DISPLAYED = """root => [...root.querySelectorAll('img')]
    .filter(img => img.offsetParent !== null && img.getBoundingClientRect().width > 0)
    .map(img => img.src).join(' ')"""


def check_page(
    tab: Page, url: str, blocked: set[str], shot: Path | None
) -> list[Found]:
    """The checks of the page served at ``url``, opened in ``tab``. Requests in
    ``blocked`` were aborted and reported already, so their console errors are not.
    With ``shot`` (a path without suffix), saves ``<shot>.png`` of the whole page and
    ``<shot>.explorer-before.png`` / ``-after.png`` around the first explorer's first
    slider move."""
    found: list[Found] = []
    favicon = urljoin(url, "/favicon.ico")
    tab.on("pageerror", lambda error: found.append(("pageerror", error.message)))

    def console(message: ConsoleMessage) -> None:
        where = message.location["url"]
        # Chromium asks for /favicon.ico by itself, now and then, when a page names
        # no icon: no page's problem
        if message.type == "error" and where not in blocked | {favicon}:
            found.append(("console", f"{message.text} ({where})"))

    tab.on("console", console)
    tab.goto(url, wait_until="load")
    if not _wait(tab, WIDGETS_RENDERED):
        views = tab.locator(WIDGET_VIEWS).count()
        found.append(("widgets", f"{views} widget views not rendered"))
    tab.evaluate(LOAD_MEDIA)
    _wait(tab, MEDIA_SETTLED)  # what has not loaded by then is reported below
    found += _math(tab)
    if shot:
        tab.screenshot(path=_saved(shot, ".png"), full_page=True)
    found += [("image", src[:200]) for src in tab.evaluate(BROKEN_IMAGES)]
    found += [("video", video) for video in tab.evaluate(BROKEN_VIDEOS)]
    explorers = tab.locator(".vidlib-explorer")
    for i in range(explorers.count()):
        found += _explorer(explorers.nth(i), i, shot if i == 0 else None)
    tab.wait_for_timeout(0)  # let Playwright deliver the last console events
    return found


def _wait(tab: Page, condition: str) -> bool:
    """Wait until the JS ``condition`` holds on ``tab``; False after WAIT_MS."""
    try:
        tab.wait_for_function(condition, timeout=WAIT_MS)
    except PlaywrightTimeout:
        return False
    return True


def _saved(shot: Path, suffix: str) -> Path:
    """``<shot><suffix>``, its folder made."""
    shot.parent.mkdir(parents=True, exist_ok=True)
    return shot.with_name(shot.name + suffix)


def _math(tab: Page) -> list[Found]:
    """MathJax 2 (where the page loads it) has finished, and no TeX is left raw."""
    if tab.locator('script[src*="MathJax.js"]').count():
        started = _wait(tab, "() => window.MathJax?.Hub?.Register !== undefined")
        if not (started and tab.evaluate(MATHJAX_DONE, WAIT_MS)):
            return [("math", f"MathJax did not finish in {WAIT_MS} ms")]
    text = tab.evaluate(VISIBLE_TEXT)
    raw = list(RAW_TEX.finditer(text))
    raw += [m for m in DOLLAR_MATH.finditer(text) if TEX_LIKE.search(m.group(1))]
    if not raw:
        return []
    snippets = [repr(text[max(m.start() - 30, 0) : m.end() + 30]) for m in raw[:3]]
    return [("math", f"{len(raw)} raw TeX in the text: {', '.join(snippets)}")]


def _explorer(root: Locator, index: int, shot: Path | None) -> list[Found]:
    """Each axis slider and the frame slider of the explorer ``root`` (the
    ``index``-th of its page), moved one step by a key press, changes the displayed
    frame. With ``shot``, the explorer is saved before and after its first slider
    moves (the first axis slider, where there is one)."""
    where = f"explorer {index + 1}"
    if not _wait_on(root, f"root => ({DISPLAYED})(root) !== ''"):
        return [("explorer", f"{where}: no displayed <img>")]
    axes = root.locator(".vidlib-explorer-axis")
    frame = root.locator(".vidlib-explorer-frame")
    found = []
    if not axes.count():
        found.append(("explorer", f"{where}: no axis slider"))
    if frame.count() != 1:
        found.append(("explorer", f"{where}: {frame.count()} frame sliders"))
    sliders = [(f"axis slider {i + 1}", axes.nth(i)) for i in range(axes.count())]
    sliders += [("frame slider", frame.nth(i)) for i in range(frame.count())]
    for i, (label, slider) in enumerate(sliders):
        if shot and i == 0:
            root.screenshot(path=_saved(shot, ".explorer-before.png"))
        if detail := _move(root, slider):
            found.append(("explorer", f"{where}: {label}: {detail}"))
        if shot and i == 0:
            root.screenshot(path=_saved(shot, ".explorer-after.png"))
    return found


def _move(root: Locator, slider: Locator) -> str | None:
    """Press an arrow key on ``slider``'s noUiSlider handle (right, or left at the
    end); why the displayed frame of ``root`` did not change, or None."""
    handle = slider.locator(".noUi-handle")
    if not handle.count():
        return "no .noUi-handle"
    low, high, now = (
        float(handle.get_attribute(f"aria-value{k}") or "nan")
        for k in ("min", "max", "now")
    )
    if not low < high:
        return f"one value ({now:g}): nothing to move"
    key = "ArrowRight" if now < high else "ArrowLeft"
    before = root.evaluate(DISPLAYED)
    handle.press(key)
    after = float(handle.get_attribute("aria-valuenow") or "nan")
    changed = f"([root, before]) => ({DISPLAYED})(root) !== before"
    if not _wait_on(root, changed, before, timeout=STEP_MS):
        return f"{key} moved it from {now:g} to {after:g}, the displayed frame stayed"
    return None


def _wait_on(
    element: Locator, condition: str, arg: object = None, timeout: int = WAIT_MS
) -> bool:
    """Wait until ``condition(element[, arg])`` holds; False after ``timeout`` ms."""
    handle = element.element_handle()
    try:
        element.page.wait_for_function(
            condition, arg=handle if arg is None else [handle, arg], timeout=timeout
        )
    except PlaywrightTimeout:
        return False
    return True
