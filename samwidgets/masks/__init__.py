"""Mask analysis (numpy / scipy / scikit-image; no torch): object and prompt descriptors."""
