"""samwidgets: a Jupyter workbench that shows where Segment Anything models fail on medical images.

Importing the package is cheap and needs only the standard library: heavy parts (numpy, torch,
ipywidgets) load when the submodule that needs them is imported. The package root imports nothing above
it: reopen a results row in the viewer with ``samwidgets.widgets.open_case(row)``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
