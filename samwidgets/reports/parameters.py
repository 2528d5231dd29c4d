"""Report parameters: validated to JSON-like values, then injected as a cell of literal assignments only.

A parameter value may be None, a bool, an int, a finite float, a str, or a list / dict (str keys) of these,
nested at most :data:`MAX_DEPTH` deep, :data:`MAX_VALUES` values in all; anything else (bytes from a YAML ``!!binary`` tag, dates, sets,
objects, NaN) is a :class:`~samwidgets.errors.ReportError` raised before any notebook runs.

The injected cell is built here, not by papermill (whose fallback for unknown types writes a ``repr``
inside quotes without escaping it): each line is ``name = repr(value)``, which for these types is always a
Python literal equal to the value. The generated source is then parsed with :mod:`ast` and refused unless
it is only ``Name = literal`` assignments whose literals evaluate back to the given values, so no value can
break out of its literal whatever characters it holds (quotes, backslashes, newlines, triple quotes).
"""

from __future__ import annotations

import ast
import keyword
import math

import nbformat

from samwidgets.errors import ReportError

MAX_DEPTH = 32
MAX_VALUES = 100_000  # values in all parameters together (a YAML alias bomb on the command line is refused)
INJECTED_TAG = "injected-parameters"
_SCALARS = (type(None), bool, int, float, str)


def _check_value(value, path: str, depth: int, budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise ReportError(f"parameters hold more than {MAX_VALUES:,} values", where=path)
    if depth > MAX_DEPTH:
        raise ReportError(f"parameter value nested deeper than {MAX_DEPTH} levels", where=path)
    if isinstance(value, float) and not math.isfinite(value):
        raise ReportError(f"parameter value {value!r} is not a finite number", where=path)
    if type(value) is int and value.bit_length() > 4000:
        raise ReportError("parameter value is an integer too large to write as a literal", where=path)
    if type(value) in _SCALARS:
        return
    if type(value) is list:
        for i, item in enumerate(value):
            _check_value(item, f"{path}[{i}]", depth + 1, budget)
        return
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise ReportError(f"dict keys must be strings, not {type(key).__name__} ({key!r:.60})",
                                  where=path)
            _check_value(item, f"{path}[{key!r:.60}]", depth + 1, budget)
        return
    raise ReportError(
        f"a parameter value must be None, a bool, a number, a string or a list/dict of these; got "
        f"{type(value).__name__} (quote the value to pass it as a string)", where=path)


def validate_parameters(params: dict) -> dict:
    """Return ``params`` unchanged if every name is an identifier and every value JSON-like; else raise
    :class:`ReportError` naming the parameter (``where``) and the reason."""
    if not isinstance(params, dict):
        raise ReportError(f"parameters must be a dict, not {type(params).__name__}")
    budget = [MAX_VALUES]
    for name, value in params.items():
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise ReportError(f"parameter name {name!r:.80} is not a Python identifier", where="parameters")
        _check_value(value, name, 0, budget)
    return params


def parameters_source(params: dict) -> str:
    """The injected cell's source: ``# Parameters`` then one ``name = literal`` line per parameter.

    ``params`` must have passed :func:`validate_parameters`. The result is verified by :func:`check_source`.
    """
    validate_parameters(params)
    lines = ["# Parameters"] + [f"{name} = {value!r}" for name, value in params.items()]
    source = "\n".join(lines) + "\n"
    check_source(source, params)
    return source


def check_source(source: str, params: dict) -> None:
    """Raise :class:`ReportError` unless ``source`` is exactly literal assignments of ``params``."""
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise ReportError(f"the injected parameters cell does not parse: {exc.msg}") from None
    seen = {}
    for node in tree.body:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            raise ReportError(f"the injected parameters cell holds a {type(node).__name__}, not an assignment")
        try:
            seen[node.targets[0].id] = ast.literal_eval(node.value)
        except ValueError:
            raise ReportError("the injected parameters cell assigns something other than a literal",
                              where=node.targets[0].id) from None
    if seen.keys() != params.keys() or any(seen[k] != params[k] for k in params):
        raise ReportError("the injected parameters cell does not reproduce the given values")


def inject_parameters(nb: nbformat.NotebookNode, params: dict) -> nbformat.NotebookNode:
    """Put the parameters cell (tag ``injected-parameters``) after the ``parameters`` cell of ``nb`` (or
    replace an existing injected cell; or at the top when there is no ``parameters`` cell), as papermill
    places it, and record the values in ``nb.metadata.papermill.parameters``. Modifies and returns ``nb``."""
    cell = nbformat.v4.new_code_cell(source=parameters_source(params))
    cell.metadata["tags"] = [INJECTED_TAG]

    def tagged(tag):
        return next((i for i, c in enumerate(nb.cells) if tag in c.get("metadata", {}).get("tags", [])), -1)

    injected, declared = tagged(INJECTED_TAG), tagged("parameters")
    if injected >= 0:
        nb.cells[injected] = cell
    else:
        nb.cells.insert(declared + 1, cell)  # declared == -1: at the top
    nb.metadata.setdefault("papermill", {})["parameters"] = params
    return nb
