"""Publish the built book as one new commit on the ``gh-pages`` branch.

Only git plumbing is used, with a temporary index and the HTML folder as the work
tree, so HEAD, the repository's index, its working tree and every other branch stay
as they are: the branch's tree is exactly the HTML folder (less the page check's
``_screenshots/``) plus an empty ``.nojekyll``
(without it GitHub Pages runs Jekyll, which drops folders starting with ``_``, such
as Sphinx's ``_static/``).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from vidlib.results import ROOT
from vidlib.runner.errors import RunFailed, RunnerError, show
from vidlib.runner.pages import SCREENSHOTS

NOJEKYLL = ".nojekyll"


def publish(
    html_dir: str | Path | None = None,
    branch: str = "gh-pages",
    repo: str | Path = ROOT,
    message: str | None = None,
) -> str:
    """Commit ``html_dir`` (default ``<repo>/_build/html``) onto ``branch``, as a
    child of the branch's last commit when it exists; returns the new commit's SHA.

    Raises RunnerError, before anything is written, when ``html_dir`` holds no built
    book (no ``index.html``), ``repo`` is not a git repository or ``branch`` is
    checked out.
    """
    repo = Path(repo).resolve()
    html = Path(html_dir if html_dir is not None else repo / "_build" / "html")
    html = html.resolve()
    if not (html / "index.html").is_file():
        raise RunnerError(
            f"{show(html)} holds no built book (expected {show(html / 'index.html')});"
            " build it first with: make book"
        )
    git_dir = _try_git(repo, "rev-parse", "--absolute-git-dir")
    if git_dir is None:
        raise RunnerError(
            f"{show(repo)} is not a git repository: nothing to publish to"
        )
    ref = f"refs/heads/{branch}"
    if _try_git(repo, "check-ref-format", ref) is None:
        raise RunnerError(f"branch {branch!r} is not a valid git branch name")
    worktrees = _git(repo, "worktree", "list", "--porcelain").splitlines()
    if f"branch {ref}" in worktrees:
        raise RunnerError(
            f"branch {branch!r} is checked out in a worktree of {show(repo)}:"
            " publishing onto it would change that HEAD; check out another branch"
        )
    parent = _try_git(repo, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}")
    if message is None:
        source = _try_git(repo, "rev-parse", "--verify", "-q", "HEAD")
        message = f"Publish the book built from {source or 'an unborn HEAD'}"

    with tempfile.TemporaryDirectory(prefix="vidlib-publish-") as tmp:
        # a throwaway index: the repository's own index is never read or written
        env = {**os.environ, "GIT_INDEX_FILE": str(Path(tmp) / "index")}
        tree_git = ("--git-dir", git_dir, "--work-tree", str(html))

        def git(*args: str, stdin: str = "") -> str:
            return _git(repo, *tree_git, *args, cwd=html, env=env, stdin=stdin)

        # -f: global or info/exclude ignore rules must not drop files of the book;
        # autocrlf off: the branch holds the HTML's bytes as they are
        # the page check's screenshots are for the book's makers, not its readers
        skip = f":(exclude){SCREENSHOTS}"
        git("-c", "core.autocrlf=false", "add", "-A", "-f", "--", ".", skip)
        empty = git("hash-object", "-w", "--stdin", stdin="")
        git("update-index", "--add", "--cacheinfo", f"100644,{empty},{NOJEKYLL}")
        tree = git("write-tree")
        parents = ["-p", parent] if parent else []
        commit = git("commit-tree", tree, *parents, "-m", message)
        # the old value guards against a concurrent update of the branch
        git("update-ref", "-m", f"publish: {message}", ref, commit, parent or "")
    return commit


def _git(
    repo: Path,
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: str = "",
) -> str:
    """git's stripped stdout; RunFailed with git's message when it fails."""
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd or repo,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RunFailed(
            f"git {' '.join(args)} failed in {show(repo)}: {proc.stderr.strip()}"
        )
    return proc.stdout.strip()


def _try_git(repo: Path, *args: str) -> str | None:
    """git's stripped stdout, or None when it exits non-zero (e.g. no such ref)."""
    try:
        return _git(repo, *args)
    except RunFailed:
        return None
