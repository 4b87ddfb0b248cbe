"""What ``tests/test_distributed.py`` starts under torchrun: the command lines of
``python -m vidlib.experiment RECORD OUT_DIR ...``, one after the other in the same
ranks (a torch start costs seconds on two cores), separated by ``--``:

``python -m torch.distributed.run --nproc-per-node 2 -m tests.distributed_child
RECORD OUT_DIR [-p NAME VALUE ...] [-- RECORD OUT_DIR ...]``

Each rank writes its pid to ``rank<R>.pid`` beside the first OUT_DIR (so that a test
can kill one), and every rank but 0 is refused any write under an OUT_DIR (an audit
hook raises PermissionError).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: ``open`` flags that write
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
#: audit events that change a folder's contents (every path argument is checked)
CHANGES = {"os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.truncate"}


def refuse_writes(
    folders: list[Path], rank: str
) -> Callable[[str, tuple[Any, ...]], None]:
    """An audit hook raising PermissionError on a write under one of ``folders``."""

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            writes = isinstance(args[2], int) and args[2] & WRITE_FLAGS
            paths = [args[0]] if writes else []
        elif event in CHANGES:
            paths = list(args)
        else:
            return
        for path in paths:
            if not isinstance(path, str | os.PathLike):
                continue
            where = Path(os.path.abspath(path))
            if any(where.is_relative_to(folder) for folder in folders):
                raise PermissionError(f"rank {rank} wrote {path}: only rank 0 writes")

    return hook


def command_lines(argv: list[str]) -> list[list[str]]:
    """``argv`` split at each ``--``."""
    lines: list[list[str]] = [[]]
    for arg in argv:
        if arg == "--":
            lines.append([])
        else:
            lines[-1].append(arg)
    return lines


if __name__ == "__main__":
    rank = os.environ["RANK"]
    lines = command_lines(sys.argv[1:])
    folders = [Path(line[1]).resolve() for line in lines]
    (folders[0].parent / f"rank{rank}.pid").write_text(str(os.getpid()))
    if rank != "0":
        sys.addaudithook(refuse_writes(folders, rank))

    from vidlib.experiment import main

    for line in lines:
        if main(line):
            sys.exit(f"{line} failed")
