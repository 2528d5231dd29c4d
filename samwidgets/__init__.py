"""samwidgets: a Jupyter workbench that shows where Segment Anything models fail on medical images.

Importing the package is cheap and needs only the standard library: heavy parts (numpy, torch,
ipywidgets) load when the submodule that needs them is imported.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "open_case"]


def open_case(row, **kwargs):
    """Reopen a results-table row (case id + prompt log) in the SliceViewer; see widgets.open_case."""
    from samwidgets.widgets.reopen import open_case as _open_case

    return _open_case(row, **kwargs)
