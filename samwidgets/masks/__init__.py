"""Mask analysis (numpy / scipy / scikit-image; no torch, ipywidgets or ipycanvas): connected components of
binary masks (:mod:`samwidgets.masks.components`) and object and prompt descriptors
(:mod:`samwidgets.masks.descriptors`). Masks are bool arrays (y, x) or (z, y, x) in array order.
"""

from __future__ import annotations

from samwidgets.masks.components import components_by_size, connected_components

__all__ = ["components_by_size", "connected_components"]
