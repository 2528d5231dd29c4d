"""Limits on what a manifest can make samwidgets do: file size, YAML nesting and alias expansion, template
widths, glob patterns, and paths leaving the manifest's root.

* A manifest file must be a regular file of at most :data:`MAX_MANIFEST_BYTES` (a FIFO never blocks).
* YAML nesting deeper than :data:`MAX_NESTING` is refused while parsing (no RecursionError), and the data
  as it would be expanded (every alias counted as a full copy of its anchor, "billion laughs") may hold at
  most :data:`MAX_EXPANDED_NODES` values; both are counted without expanding anything.
* ``cases_glob`` templates (``id``, ``label``, ``fov``) may use only the documented placeholders, without
  attribute or index access, and a width or precision of at most :data:`MAX_TEMPLATE_WIDTH`.
* ``cases_glob`` patterns must be relative and valid for :meth:`pathlib.Path.glob`.
* Every image, label and field-of-view path must stay inside the manifest's ``root`` once symbolic links are
  resolved (``../..``, absolute paths and links pointing out are refused), unless the manifest sets
  ``allow_outside_root: true`` (:data:`OPT_IN_KEY`).
"""

from __future__ import annotations

import os
import re
import stat
import string
from pathlib import Path

import yaml

from samwidgets.errors import ManifestError

MAX_MANIFEST_BYTES = 8 << 20  # 8 MiB: ~80,000 explicitly listed cases
MAX_NESTING = 64
MAX_EXPANDED_NODES = 1_000_000
MAX_TEMPLATE_WIDTH = 255
TEMPLATE_FIELDS = ("stem", "number", "name", "parent", "relparent")
OPT_IN_KEY = "allow_outside_root"


def read_manifest_text(path: Path) -> str:
    """The text of a manifest file: regular file (checked before opening), at most MAX_MANIFEST_BYTES,
    UTF-8. ManifestError naming the file otherwise."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ManifestError("manifest file not found", where=path) from None
    except (OSError, ValueError) as exc:
        raise ManifestError(f"cannot look up the manifest: {getattr(exc, 'strerror', None) or exc}",
                            where=path) from None
    if not stat.S_ISREG(info.st_mode):
        raise ManifestError("not a regular file (a FIFO, device or folder)", where=path)
    if info.st_size > MAX_MANIFEST_BYTES:
        raise ManifestError(f"manifest is {info.st_size:,} bytes, more than the limit of {MAX_MANIFEST_BYTES:,}",
                            where=path)
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"cannot read manifest: {exc}", where=path) from exc


class _TooDeep(yaml.YAMLError):
    pass


class BoundedSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses nesting deeper than :data:`MAX_NESTING` while composing."""

    def compose_node(self, parent, index):
        depth = getattr(self, "_depth", 0) + 1
        if depth > MAX_NESTING:
            mark = self.peek_event().start_mark
            raise _TooDeep(f"YAML nested more than {MAX_NESTING} levels deep (line {mark.line + 1})")
        self._depth = depth
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth = depth - 1


def expanded_size(data, *, limit: int = MAX_EXPANDED_NODES) -> int:
    """How many values ``data`` holds when every shared (aliased) container is counted as a copy; the
    count stops early past ``limit``. Memoised by object identity, so it runs in the size of the YAML
    text even when the expansion is exponential."""
    memo: dict[int, int] = {}

    def size(value) -> int:
        if not isinstance(value, (dict, list)):
            return 1
        ident = id(value)
        if ident in memo:
            return memo[ident]
        memo[ident] = limit + 1  # a cycle (a recursive alias) counts as over the limit
        children = value.values() if isinstance(value, dict) else value
        total = 1 + len(value) if isinstance(value, dict) else 1
        for child in children:
            total += size(child)
            if total > limit:
                break
        memo[ident] = min(total, limit + 1)
        return memo[ident]

    return size(data)


def load_yaml(text: str, where: Path):
    """Parse manifest YAML with the bounds above; yaml.YAMLError for syntax errors (caller reports the
    line), ManifestError for too deep or too large once aliases are expanded."""
    try:
        data = yaml.load(text, Loader=BoundedSafeLoader)  # noqa: S506 - a SafeLoader subclass
    except _TooDeep as exc:
        raise ManifestError(str(exc), where=where) from None
    except RecursionError:
        raise ManifestError(f"YAML nested too deeply (limit {MAX_NESTING})", where=where) from None
    if expanded_size(data) > MAX_EXPANDED_NODES:
        raise ManifestError(f"manifest expands to more than {MAX_EXPANDED_NODES:,} values once YAML aliases "
                            "are expanded (an alias bomb?)", where=where)
    return data


_NUMBERS = re.compile(r"\d+")


def check_template(template: str) -> None:
    """Raise ValueError unless ``template`` uses only :data:`TEMPLATE_FIELDS` (no ``.attr`` / ``[index]``)
    with widths and precisions of at most :data:`MAX_TEMPLATE_WIDTH`."""
    for _, field, spec, _ in string.Formatter().parse(template):
        if field is None:
            continue
        if field not in TEMPLATE_FIELDS:
            raise ValueError(f"unknown placeholder '{{{field}}}'")
        numbers = [int(n) for n in _NUMBERS.findall(spec or "")]
        if numbers and max(numbers) > MAX_TEMPLATE_WIDTH:
            raise ValueError(f"width {max(numbers)} in '{{{field}:{spec}}}' exceeds {MAX_TEMPLATE_WIDTH}")


def check_pattern(pattern: str) -> str | None:
    """A problem with a ``cases_glob`` pattern (absolute, or invalid for Path.glob), or None."""
    if not pattern or Path(pattern).is_absolute() or pattern.startswith("~"):
        return f"pattern '{pattern}' must be relative to root"
    try:
        Path("/nonexistent-samwidgets-root").glob(pattern).__next__()
    except StopIteration:
        return None
    except (ValueError, NotImplementedError, OSError) as exc:
        return f"invalid pattern '{pattern}': {exc}"
    return None


def lookup_problem(path: Path) -> str | None:
    """None when ``path`` exists; else 'not found' or why it cannot be looked up (e.g. a name too long)."""
    try:
        os.stat(path)
    except FileNotFoundError:
        return "not found"
    except (OSError, ValueError) as exc:
        return f"cannot be looked up ({getattr(exc, 'strerror', None) or exc})"
    return None


class RootGuard:
    """Refuses paths that leave ``root`` after resolving symbolic links, unless ``allow`` (the opt-in key)."""

    def __init__(self, root: Path, *, allow: bool):
        self.root = Path(os.path.realpath(root))
        self.allow = bool(allow)

    def problem(self, path: Path, what: str, where: str) -> str | None:
        if self.allow:
            return None
        try:
            real = Path(os.path.realpath(path))
        except (OSError, ValueError) as exc:
            return f"{where}: {what} {path} cannot be resolved ({exc})"
        if real == self.root or self.root in real.parents:
            return None
        return (f"{where}: {what} {path} lies outside the manifest's root {self.root} (set "
                f"'{OPT_IN_KEY}: true' in the manifest to allow it)")
