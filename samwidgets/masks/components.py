"""Connected components of binary masks (numpy/scipy only).

Objects are connected components with full connectivity by default: 8-connectivity in 2D, 26 in 3D
(protocols.md "Prompt simulation", Mazurowski et al. 2023), i.e. ``scipy.ndimage.label`` with a full 3**n
structuring element. ``connectivity=1`` gives 4 (2D) / 6 (3D) connectivity.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from samwidgets.errors import InputError


def _structure(ndim: int, connectivity: int | None) -> np.ndarray:
    rank = ndim if connectivity is None else int(connectivity)
    if not 1 <= rank <= ndim:
        raise InputError(f"connectivity must be in 1..{ndim} for a {ndim}D mask, got {connectivity}",
                         where="mask")
    return ndi.generate_binary_structure(ndim, rank)


def connected_components(mask, *, connectivity: int | None = None) -> tuple[np.ndarray, int]:
    """Label the connected components of a (y, x) or (z, y, x) mask.

    Returns (labels, n): ``labels`` an int32 array of the mask's shape, 0 for background and 1..n for the
    components in scan order; ``n`` the number of components. ``connectivity`` None = full (8 / 26),
    1 = face neighbours only (4 / 6), 2 in 3D = 18.
    """
    m = np.asarray(mask).astype(bool, copy=False)
    if m.ndim not in (2, 3):
        raise InputError(f"mask must be (y, x) or (z, y, x), got shape {m.shape}", where="mask")
    labels, n = ndi.label(m, structure=_structure(m.ndim, connectivity))
    return labels.astype(np.int32, copy=False), int(n)


def components_by_size(mask, *, connectivity: int | None = None,
                       max_components: int | None = None) -> list[np.ndarray]:
    """The connected components of ``mask`` as bool masks of its shape, largest first (ties: scan order);
    ``max_components`` keeps only the largest ones (and builds no mask for the rest)."""
    labels, n = connected_components(mask, connectivity=connectivity)
    if n == 0:
        return []
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    order = np.argsort(-sizes, kind="stable")[:max_components]
    return [labels == (int(i) + 1) for i in order]
