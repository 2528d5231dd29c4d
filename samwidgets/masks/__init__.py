"""Mask analysis (numpy / scipy / scikit-image; no torch, ipywidgets or ipycanvas): connected components of
binary masks (:mod:`samwidgets.masks.components`), the distance of object pixels to the background
(:mod:`samwidgets.masks.distance`), a mask's extent (:mod:`samwidgets.masks.extent`) and object and prompt
descriptors (:mod:`samwidgets.masks.descriptors`). Masks are bool arrays (y, x) or (z, y, x) in array order.
"""

from __future__ import annotations

from samwidgets.masks.components import components_by_size, connected_components
from samwidgets.masks.distance import distance_map

__all__ = ["components_by_size", "connected_components", "distance_map"]
