"""View-time assets served from the book itself, so a page needs no network.

``_config.yml`` lists ``_vendor`` in ``html_static_path``: whatever lies there is the
built book's ``_static``. Two sets go there at build time:

* ``mathjax/``: MathJax 2, copied from the jupyter-server-mathjax wheel;
* ``widgets/``: require.js and the ipywidgets HTML manager (``embed-amd.js`` and the
  fonts of its Play buttons), which render the widget state the notebooks embed.
  They are npm packages, not wheels: ``python -m vidlib.runner.vendor`` (run by
  ``make`` while the network is there) packs the pinned tarballs into
  ``.venv/npm``; the build unpacks them offline after checking their hashes.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from vidlib.results import ROOT
from vidlib.runner.errors import RunnerError, show

VENDOR = ROOT / "_vendor"
PACKS = ROOT / ".venv" / "npm"
#: npm tarballs: (package, version) -> the registry's sha512 integrity
NPM_PACKAGES = {
    ("@jupyter-widgets/html-manager", "1.0.15"): "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKm"
    "SazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
    ("requirejs", "2.3.8"): "sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421V"
    "yce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==",
}
#: what the widgets need from each tarball (the fonts: woff2 first in every
#: @font-face, woff as the fallback)
WIDGET_FILES = {
    "@jupyter-widgets/html-manager": (
        "package/dist/embed-amd.js",
        "package/dist/embed.js.LICENSE.txt",
        "package/dist/*.woff2",
        "package/dist/*.woff",
    ),
    "requirejs": ("package/require.js",),
}


def tarball(package: str, version: str, packs: Path = PACKS) -> Path:
    """Where ``npm pack`` writes ``package@version`` (``@scope/x`` → ``scope-x``)."""
    return packs / f"{package.lstrip('@').replace('/', '-')}-{version}.tgz"


def integrity(path: Path) -> str:
    """npm's integrity string of a file: ``sha512-`` and the base64 digest."""
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def fetch(packs: Path = PACKS) -> list[Path]:
    """``npm pack`` every pinned tarball missing from ``packs`` (needs the network)."""
    packs.mkdir(parents=True, exist_ok=True)
    missing = [(p, v) for p, v in NPM_PACKAGES if not tarball(p, v, packs).is_file()]
    if missing:
        if shutil.which("npm") is None:
            raise RunnerError(
                "npm is not on PATH: the ipywidgets HTML manager and require.js come "
                "from the npm registry (install Node.js and npm, then rerun `make`)"
            )
        specs = [f"{p}@{v}" for p, v in missing]
        cmd = ["npm", "pack", "--silent", "--pack-destination", str(packs), *specs]
        if subprocess.run(cmd).returncode != 0:
            raise RunnerError(f"`{' '.join(cmd)}` failed (see above)")
    return [tarball(p, v, packs) for p, v in NPM_PACKAGES]


def checked_tarballs(packs: Path = PACKS) -> dict[str, Path]:
    """Package name → its pinned tarball in ``packs``, each checked against its
    pinned integrity; a missing or different tarball raises ``RunnerError``."""
    found = {}
    for (package, version), expected in NPM_PACKAGES.items():
        path = tarball(package, version, packs)
        if not path.is_file():
            raise RunnerError(
                f"{show(path)} is missing: the book serves {package} {version} itself; "
                "fetch it once with the network: python -m vidlib.runner.vendor"
            )
        if (actual := integrity(path)) != expected:
            raise RunnerError(
                f"{show(path)} is not {package} {version} as pinned in "
                f"vidlib/runner/vendor.py (integrity {actual}, expected {expected}); "
                "delete it and rerun: python -m vidlib.runner.vendor"
            )
        found[package] = path
    return found


def vendor_widgets(packs: Path = PACKS, target: Path = VENDOR / "widgets") -> Path:
    """Unpack the widget files of the pinned tarballs into ``target`` once every
    tarball has passed :func:`checked_tarballs`; works offline."""
    for package, path in checked_tarballs(packs).items():
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(path) as archive:
            for member in archive.getmembers():
                if member.isfile() and any(
                    Path(member.name).match(pattern)
                    for pattern in WIDGET_FILES[package]
                ):
                    source = archive.extractfile(member)
                    assert source is not None  # a regular file
                    (target / Path(member.name).name).write_bytes(source.read())
    return target


def vendor_mathjax(target: Path = VENDOR / "mathjax") -> Path:
    """Copy MathJax 2 (from the jupyter-server-mathjax wheel) into ``target``."""
    import jupyter_server_mathjax

    if not (target / "MathJax.js").is_file():
        source = Path(jupyter_server_mathjax.__file__).parent / "static"
        shutil.copytree(source, target, dirs_exist_ok=True)
    return target


def main(argv: list[str] | None = None) -> int:
    """``python -m vidlib.runner.vendor``: fetch the pinned npm tarballs and check
    them; exit 2 with one line naming the problem."""
    parser = argparse.ArgumentParser(
        prog="python -m vidlib.runner.vendor",
        description="Fetch the pinned npm tarballs of the widget JS the book serves.",
    )
    parser.add_argument("--packs", type=Path, default=PACKS, help=f"default: {PACKS}")
    packs = parser.parse_args(argv).packs
    try:
        fetch(packs)
        for path in checked_tarballs(packs).values():
            print(f"{show(path)}: {integrity(path)}")
    except RunnerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
