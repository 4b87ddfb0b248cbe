"""The book's own Sphinx extension (``_config.yml``: ``sphinx.extra_extensions``).

Jupyter Book 1 always loads sphinx-thebe, which writes ``const THEBE_JS_URL = ...``
into the head of every page (twice: its script is registered once per read phase,
and the second declaration of the ``const`` is an uncaught error) and a Binder
configuration into every notebook page. The book runs no live code in the HTML
(its explorers work without a kernel; JupyterLab is the live way), so this drops
those two hooks; the rest of sphinx-thebe (its directive, its CSS) stays.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx

#: sphinx-thebe's handlers that put Thebe into the pages
THEBE_HOOKS = {"init_thebe_core", "update_thebe_context"}


def drop_thebe(app: Sphinx) -> None:
    """Disconnect sphinx-thebe's page hooks (every extension is set up by now)."""
    for listeners in app.events.listeners.values():
        listeners[:] = [
            listener
            for listener in listeners
            if not (
                getattr(listener.handler, "__module__", "") == "sphinx_thebe"
                and listener.handler.__name__ in THEBE_HOOKS
            )
        ]


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("builder-inited", drop_thebe)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
