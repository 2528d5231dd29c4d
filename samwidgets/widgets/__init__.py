"""Interactive slice viewer (ipycanvas) over a headless :class:`Session`.

``Session`` and the render helpers import no ipywidgets; ``SliceViewer`` (and ``open_case``,
``explore``) load ipywidgets/ipycanvas only when first used.
"""

from __future__ import annotations

from samwidgets.widgets.session import Session

__all__ = ["Session", "SliceViewer", "open_case", "explore"]


def __getattr__(name):
    if name == "SliceViewer":
        from samwidgets.widgets.viewer import SliceViewer

        return SliceViewer
    if name == "open_case":
        from samwidgets.widgets.reopen import open_case

        return open_case
    if name == "explore":
        from samwidgets.widgets.reopen import explore

        return explore
    raise AttributeError(name)
