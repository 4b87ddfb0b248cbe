"""Close-match hints for error messages about a misspelt name."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(
    name: object, choices: Iterable[str], n: int = 1, fmt: str = "{}"
) -> str:
    """``"did you mean X? "`` (up to ``n`` close ``choices``, each shown with
    ``fmt``), or ``""`` when none is close."""
    close = difflib.get_close_matches(str(name), list(choices), n=n)
    return f"did you mean {', '.join(fmt.format(c) for c in close)}? " if close else ""
