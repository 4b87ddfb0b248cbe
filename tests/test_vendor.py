"""The view-time assets the book serves itself: the pinned npm tarballs are checked
against their integrity before anything is unpacked, only the widget files come
out, and _config.yml loads exactly what is unpacked."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
from pathlib import Path

import pytest
import yaml

from vidlib.runner import vendor
from vidlib.runner.errors import RunnerError

ROOT = Path(__file__).parents[1]


def make_tarball(path: Path, files: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def test_integrity_is_npm_s_sha512_string(tmp_path: Path) -> None:
    path = tmp_path / "x.tgz"
    path.write_bytes(b"abc")
    digest = hashlib.sha512(b"abc").digest()
    assert vendor.integrity(path) == "sha512-" + base64.b64encode(digest).decode()
    assert vendor.tarball("@a/b-c", "1.2.3", tmp_path) == tmp_path / "a-b-c-1.2.3.tgz"
    assert vendor.tarball("requirejs", "2.3.8", tmp_path).name == "requirejs-2.3.8.tgz"


@pytest.fixture
def fake_packs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two tarballs shaped like the real ones, pinned by their own integrity."""
    packs = tmp_path / "packs"
    packs.mkdir()
    make_tarball(
        packs / "jupyter-widgets-html-manager-9.9.9.tgz",
        {
            "package/dist/embed-amd.js": b"define()",
            "package/dist/embed.js": b"unused bundle",
            "package/dist/a1.woff2": b"font2",
            "package/dist/a1.woff": b"font1",
            "package/dist/a1.ttf": b"unused font",
            "package/dist/embed.js.LICENSE.txt": b"licenses",
            "package/package.json": b"{}",
        },
    )
    make_tarball(
        packs / "requirejs-9.9.9.tgz",
        {"package/require.js": b"var requirejs", "package/bin/r.js": b"unused"},
    )
    pins = {
        (name, "9.9.9"): vendor.integrity(vendor.tarball(name, "9.9.9", packs))
        for name in ("@jupyter-widgets/html-manager", "requirejs")
    }
    monkeypatch.setattr(vendor, "NPM_PACKAGES", pins)
    return packs


def test_only_the_widget_files_are_unpacked(fake_packs: Path, tmp_path: Path) -> None:
    target = vendor.vendor_widgets(fake_packs, tmp_path / "widgets")
    files = {p.name: p.read_bytes() for p in target.iterdir()}
    assert files == {
        "embed-amd.js": b"define()",
        "a1.woff2": b"font2",
        "a1.woff": b"font1",
        "embed.js.LICENSE.txt": b"licenses",
        "require.js": b"var requirejs",
    }


def test_a_tarball_that_is_not_the_pinned_one_is_refused(
    fake_packs: Path, tmp_path: Path
) -> None:
    path = fake_packs / "requirejs-9.9.9.tgz"
    make_tarball(path, {"package/require.js": b"something else"})
    target = tmp_path / "widgets"
    with pytest.raises(RunnerError, match=r"requirejs-9\.9\.9\.tgz is not requirejs"):
        vendor.vendor_widgets(fake_packs, target)
    assert not target.exists()


def test_a_missing_tarball_says_how_to_fetch_it(
    fake_packs: Path, tmp_path: Path
) -> None:
    (fake_packs / "jupyter-widgets-html-manager-9.9.9.tgz").unlink()
    with pytest.raises(RunnerError, match=r"missing.*python -m vidlib\.runner\.vendor"):
        vendor.vendor_widgets(fake_packs, tmp_path / "widgets")
    assert not (tmp_path / "widgets").exists()


def test_fetch_without_npm_names_what_is_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RunnerError, match="npm is not on PATH"):
        vendor.fetch(tmp_path / "packs")


def test_the_book_loads_what_the_pinned_tarballs_hold(tmp_path: Path) -> None:
    """The real tarballs (fetched by make before the tests) hold the files
    _config.yml hands to myst-nb for pages with widgets; the others are the book's
    own, in book/static."""
    target = vendor.vendor_widgets(target=tmp_path / "widgets")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    assert config["html_static_path"] == ["_vendor", "book/static"]
    assert vendor.VENDOR == ROOT / "_vendor" and target.name == "widgets"
    scripts = list(config["nb_ipywidgets_js"])
    assert {"widgets/require.js", "widgets/embed-amd.js"} <= set(scripts)
    for script in scripts:
        if script.startswith("widgets/"):
            path = target / script.removeprefix("widgets/")
            assert path.stat().st_size > 10_000
        else:
            assert (ROOT / "book" / "static" / script).is_file()
    # require.js first: the manager is an AMD module
    assert scripts.index("widgets/require.js") < scripts.index("widgets/embed-amd.js")
    assert sorted(p.suffix for p in target.glob("*.woff2"))
