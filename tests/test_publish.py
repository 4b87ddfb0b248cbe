"""``vidlib.runner.publish`` on a throwaway git repository: the built book becomes one
commit on ``gh-pages`` and nothing else in the repository changes."""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path

import pytest

from vidlib.runner import cli
from vidlib.runner.errors import RunnerError
from vidlib.runner.publish import publish

# a book's kinds of files: Sphinx's _static/ (which Jekyll would drop), nested pages,
# and bytes git could rewrite (CRLF, NUL)
BOOK = {
    "index.html": b"<html>the book</html>\n",
    "_static/style.css": b"body { color: black }\n",
    "book/generated/mocogan.html": b"<html>MoCoGAN</html>\r\n",
    "_images/clip.gif": bytes(range(256)) + b"\r\n\x00",
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=True
    ).stdout


def write_book(html: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (html / name).parent.mkdir(parents=True, exist_ok=True)
        (html / name).write_bytes(data)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository on ``main`` with a branch ``other``, a staged change, a modified
    file, an untracked file and the built book in ``_build/html`` (ignored)."""
    # the user's git configuration (signing, hooks, identity) must not leak in
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.name", "Tester")
    git(repo, "config", "user.email", "tester@example.org")
    (repo / ".gitignore").write_text("_build/\n")
    (repo / "tracked.txt").write_text("one\n")
    (repo / "staged.txt").write_text("one\n")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first")
    git(repo, "branch", "other")
    (repo / "staged.txt").write_text("two\n")
    git(repo, "add", "staged.txt")
    (repo / "tracked.txt").write_text("modified\n")
    (repo / "untracked.txt").write_text("new\n")
    # ignore rules of the repository apply to any work tree: publish must override
    (repo / ".git" / "info" / "exclude").write_text("*.gif\n")
    write_book(repo / "_build" / "html", BOOK)
    return repo


def state(repo: Path) -> dict[str, str | bytes]:
    """Everything publish must leave alone: HEAD, the index, the working tree's
    status, the refs other than gh-pages and the book folder's files."""
    html = repo / "_build" / "html"
    return {
        "HEAD": git(repo, "symbolic-ref", "HEAD") + git(repo, "rev-parse", "HEAD"),
        "index": (repo / ".git" / "index").read_bytes(),
        "status": git(repo, "status", "--porcelain", "--ignored", "-uall"),
        "refs": "".join(
            line
            for line in git(repo, "for-each-ref").splitlines(keepends=True)
            if not line.rstrip().endswith("refs/heads/gh-pages")
        ),
        "book": repr(
            sorted((p, p.read_bytes()) for p in html.rglob("*") if p.is_file())
        ),
    }


def tree(repo: Path, rev: str) -> dict[str, bytes]:
    """The files of commit ``rev`` with their bytes."""
    names = git(repo, "ls-tree", "-r", "--name-only", "-z", rev).split("\0")
    return {
        name: subprocess.run(
            ["git", "cat-file", "blob", f"{rev}:{name}"],
            cwd=repo,
            capture_output=True,
            check=True,
        ).stdout
        for name in names
        if name
    }


def test_publish_commits_exactly_the_book_and_changes_nothing_else(repo: Path) -> None:
    # the page check's screenshots stay out of what readers get
    write_book(repo / "_build" / "html", {"_screenshots/index.png": b"\x89PNG"})
    before = state(repo)
    commit = publish(repo / "_build" / "html", repo=repo, message="book v1")
    assert tree(repo, "gh-pages") == {**BOOK, ".nojekyll": b""}
    assert git(repo, "rev-parse", "gh-pages").strip() == commit
    assert git(repo, "log", "--format=%P|%s", "-1", commit).strip() == "|book v1"
    assert state(repo) == before


def test_second_publish_is_a_child_of_the_first(repo: Path) -> None:
    html = repo / "_build" / "html"
    first = publish(html, repo=repo)
    (html / "_static" / "style.css").unlink()
    write_book(html, {"index.html": b"<html>v2</html>\n", "new.html": b"new\n"})
    before = state(repo)
    second = publish(html, repo=repo)
    assert git(repo, "log", "--format=%P", "-1", second).strip() == first
    expected = {k: v for k, v in BOOK.items() if k != "_static/style.css"}
    expected |= {"index.html": b"<html>v2</html>\n", "new.html": b"new\n"}
    assert tree(repo, second) == {**expected, ".nojekyll": b""}
    assert state(repo) == before
    head = git(repo, "rev-parse", "HEAD").strip()
    assert f"Publish the book built from {head}" in git(repo, "log", "-1", second)


@pytest.mark.parametrize("folder", ["missing", "empty", "no-index"])
def test_a_folder_without_a_built_book_is_refused_and_nothing_written(
    repo: Path, folder: str
) -> None:
    html = repo / "_build" / folder
    if folder != "missing":
        html.mkdir()
    if folder == "no-index":
        write_book(html, {"_static/style.css": b"body {}\n"})
    before = state(repo)
    objects = git(repo, "count-objects", "-v")
    with pytest.raises(
        RunnerError, match=rf"{re.escape(str(html))} holds no built book"
    ):
        publish(html, repo=repo)
    assert state(repo) == before
    assert git(repo, "count-objects", "-v") == objects
    assert git(repo, "branch", "--list", "gh-pages") == ""
    assert html.exists() == (folder != "missing")


def test_the_checked_out_branch_is_refused(repo: Path) -> None:
    before = state(repo)
    with pytest.raises(RunnerError, match="'main' is checked out"):
        publish(repo / "_build" / "html", branch="main", repo=repo)
    assert state(repo) == before


def test_cli_names_the_commit_and_how_to_push(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(cli, "publish", functools.partial(publish, repo=repo))
    assert cli.main(["publish", "--html", str(repo / "_build" / "html")]) == 0
    commit = git(repo, "rev-parse", "gh-pages").strip()
    out = capsys.readouterr().out
    assert commit in out
    assert "git push origin gh-pages" in out
    assert cli.main(["publish", "--html", str(repo / "nothing")]) == 2
    assert "no built book" in capsys.readouterr().err
