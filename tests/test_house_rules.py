"""The house rules: import arrows that must never exist in vidlib/, and notebooks that
define no network or loss (the book's architecture page, "How this book is built",
explains why).

Every import is read with ``ast`` (those inside functions too; ``from vidlib import
train`` and relative imports count as imports of ``vidlib.train``). The part of a
module is its first name under ``vidlib`` (``vidlib.models.g3an`` -> ``models``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).parents[1]

#: part -> the parts it must never import
NEVER: dict[str, set[str]] = {
    "models": {"train", "runner", "metrics", "data", "experiment", "book"},
    "data": {"models", "train", "metrics", "runner", "book"},
    "metrics": {"models", "train", "runner", "book"},
    "nn": {"models", "train", "book"},
    "losses": {"models", "train", "book"},
    "runner": {"models", "train"},
    "book": {"models", "train"},
}


#: arrows that another branch removes (NAVS: CellVideos and the exchange split move
#: to vidlib/data/cells.py); the test fails once one no longer exists, to drop it here
def part(module: str) -> str | None:
    names = module.split(".")
    return names[1] if len(names) > 1 and names[0] == "vidlib" else None


def imported(path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """``(line, module)`` of every import in ``path`` (a file under ``root/vidlib``);
    for ``from a import b`` both ``a`` and ``a.b`` (``b`` may be a module)."""
    package = list(path.relative_to(root).with_suffix("").parts)
    package = package if path.stem == "__init__" else package[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def broken_arrows(root: Path) -> list[str]:
    """``"<file>: <part> -> <part>"`` for every forbidden import under root/vidlib."""
    found = set()
    for path in sorted((root / "vidlib").rglob("*.py")):
        name = path.relative_to(root)
        source = part(".".join(name.with_suffix("").parts))
        is_paper = path.parent.name == "models" and path.stem != "__init__"
        for _, module in imported(path, root):
            target = part(module)
            if target in NEVER.get(source, ()):
                found.add(f"{name}: {source} -> {target}")
            if is_paper and module.startswith("vidlib.models."):
                paper = module.split(".")[2]
                if paper != path.stem:
                    found.add(f"{name}: paper -> paper (vidlib.models.{paper})")
    return sorted(found)


def is_module_class(node: ast.ClassDef) -> bool:
    """A class deriving ``nn.X`` or ``torch.nn.X`` (every such X is an nn.Module)."""
    return any(
        re.fullmatch(r"(torch\.)?nn\.\w+|Module", ast.unparse(base))
        for base in node.bases
    )


def code_cells(notebook: Path) -> Iterator[tuple[int, str]]:
    """``(first line, source)`` of each code cell of a MyST notebook; IPython magics
    and shell lines are blanked so the cell parses."""
    lines = notebook.read_text().splitlines()
    start = None
    for number, line in enumerate(lines, 1):
        if start is None and line.startswith("```{code-cell}"):
            start = number
        elif start is not None and line.startswith("```"):
            body = lines[start : number - 1]
            yield (
                start + 1,
                "\n".join(
                    "" if re.match(r"\s*[%!]", b) or b.startswith(":") else b
                    for b in body
                ),
            )
            start = None


FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


def notebook_models_and_losses(root: Path) -> list[str]:
    """``"<notebook>:<line>: ..."`` for each nn.Module class or loss function that a
    notebook under root/notebooks defines."""
    found = []
    for notebook in sorted((root / "notebooks").glob("*.md")):
        name = notebook.relative_to(root)
        for first, source in code_cells(notebook):
            for node in ast.walk(ast.parse(source, f"{name}:{first}")):
                line = first + getattr(node, "lineno", 1) - 1
                if isinstance(node, ast.ClassDef) and is_module_class(node):
                    found.append(f"{name}:{line}: defines nn.Module {node.name}")
                elif isinstance(node, FUNCTIONS) and "loss" in node.name.lower():
                    found.append(f"{name}:{line}: defines loss {node.name}")
    return found


def test_vidlib_breaks_no_house_rule() -> None:
    arrows = set(broken_arrows(ROOT))
    assert sorted(arrows) == []


def test_notebooks_define_no_model_or_loss() -> None:
    assert notebook_models_and_losses(ROOT) == []


def test_the_checks_see_every_kind_of_break(tmp_path: Path) -> None:
    files = {
        "vidlib/models/a.py": (
            "from vidlib.nn import x\n"  # allowed
            "def f():\n    from vidlib import train\n"  # inside a function
            "from . import b\n"  # relative: vidlib.models.b, another paper
            "import vidlib.data.shapes\n"
        ),
        "vidlib/models/b.py": "from vidlib.models.b import y\n",  # itself: allowed
        "vidlib/metrics/m.py": "from ..book import ROOT\nfrom vidlib import method\n",
        "vidlib/nn.py": "from vidlib.models.a import G\n",
        "notebooks/n.md": (
            "# text\n\n```{code-cell} ipython3\n%matplotlib inline\n"
            "class Net(torch.nn.Module):\n    pass\n\n"
            "def my_loss(x):\n    return x\n```\n\nclass Prose(nn.Module): not code\n"
        ),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert broken_arrows(tmp_path) == [
        "vidlib/metrics/m.py: metrics -> book",
        "vidlib/models/a.py: models -> data",
        "vidlib/models/a.py: models -> train",
        "vidlib/models/a.py: paper -> paper (vidlib.models.b)",
        "vidlib/nn.py: nn -> models",
    ]
    assert notebook_models_and_losses(tmp_path) == [
        "notebooks/n.md:5: defines nn.Module Net",
        "notebooks/n.md:8: defines loss my_loss",
    ]
