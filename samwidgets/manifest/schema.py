"""The JSON schema of a data manifest (``data_manifests/*.yaml``) and the formatting of its errors.

The schema checks structure only (keys, types, allowed modalities, the shape of each label rule). Checks
that need the file system or the io layer (files exist, preset names, image and label shapes) live in
:mod:`samwidgets.manifest.build` and :mod:`samwidgets.manifest.load`. See ``data_manifests/README.md`` for the format with examples.
"""

from __future__ import annotations

import functools
from typing import Any

MODALITIES = (
    "CT",
    "MR",
    "PET",
    "US",
    "XR",
    "endoscopy",
    "dermoscopy",
    "fundus",
    "mammography",
    "pathology",
    "microscopy",
    "OCT",
)

LABEL_TYPES = ("values", "threshold", "colours", "instances", "outline_fill")

_NAME = {"type": "string", "minLength": 1, "pattern": r"^[^/\s]+$"}
_TEXT = {"type": "string", "minLength": 1}
_RGB = {
    "type": "array",
    "items": {"type": "integer", "minimum": 0, "maximum": 255},
    "minItems": 3,
    "maxItems": 3,
}


# A label is one value/colour or a list of them (their union); lists are never empty.
_NAMES = {"anyOf": [_NAME, {"type": "array", "items": _NAME, "minItems": 1}]}
_RGBS = {"anyOf": [_RGB, {"type": "array", "items": _RGB, "minItems": 1}]}


def _rule(kind: str, required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "if": {"properties": {"type": {"const": kind}}, "required": ["type"]},
        "then": {
            "required": ["type", *required],
            "properties": {"type": {"const": kind}, **properties},
            "additionalProperties": False,
        },
    }


# One label rule, as understood by samwidgets.io.labels.decode_label.
LABEL_RULE: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"enum": list(LABEL_TYPES)}},
    "allOf": [
        # keys are label values (integers; YAML writes them bare), values are label names (a name given to
        # several values is their union; a value may name several overlapping labels)
        _rule("values", ["labels"], {"labels": {"type": "object", "minProperties": 1,
                                                "additionalProperties": _NAMES}}),
        _rule("threshold", ["threshold", "name"], {"threshold": {"type": "number"}, "name": _NAME}),
        _rule("colours", ["labels"], {
            "labels": {"type": "object", "minProperties": 1, "additionalProperties": _RGBS},
            "background": _RGB,
            "max_distance": {"type": "number", "exclusiveMinimum": 0},
            "blends": {"type": "boolean"},
        }),
        _rule("instances", ["name"], {"name": _NAME}),
        _rule("outline_fill", ["threshold", "name"], {"threshold": {"type": "number"}, "name": _NAME,
                                                     "close": {"type": "integer", "minimum": 0}}),
    ],
}

SPACING: dict[str, Any] = {
    "type": "array",
    "items": {"type": "number", "exclusiveMinimum": 0},
    "minItems": 2,
    "maxItems": 3,
}

# Keys a case (or a cases_glob entry) may set to override the manifest-level value. In a case ``label`` is
# the label FILE, so the rule override is called ``label_rule`` (the manifest-level rule is ``label``).
OVERRIDES: dict[str, Any] = {
    "dataset": _NAME,
    "modality": {"enum": list(MODALITIES)},
    "anatomy": _TEXT,
    "preset": _TEXT,
    "label_rule": LABEL_RULE,
    "label_key": _TEXT,
    "spacing": SPACING,
    "dims": {"enum": [2, 3]},
    "licence": _TEXT,
    "citation": _TEXT,
}

# One label file of a case: a path (a template in cases_glob) decoded with the case's rule, or a mapping
# giving the file its own rule and npz key. ``label`` may list several (e.g. axon and myelin masks).
LABEL_FILE: dict[str, Any] = {
    "anyOf": [
        _TEXT,
        {"type": "object", "required": ["file"], "additionalProperties": False,
         "properties": {"file": _TEXT, "rule": LABEL_RULE, "key": _TEXT}},
    ],
}
LABEL_FILES: dict[str, Any] = {"type": "array", "items": LABEL_FILE, "minItems": 1}

CASE: dict[str, Any] = {
    "type": "object",
    "required": ["id", "image"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": ["string", "integer"], "pattern": r"^[^/\s]+$"},
        "image": _TEXT,
        "label": {"anyOf": [{"type": ["string", "null"]}, LABEL_FILES]},
        "fov": _TEXT,
        **OVERRIDES,
    },
}

CASES_GLOB: dict[str, Any] = {
    "type": "object",
    "required": ["image"],
    "additionalProperties": False,
    "properties": {
        "image": _TEXT,
        "label": {"anyOf": [_TEXT, LABEL_FILES]},
        "fov": _TEXT,
        "id": _TEXT,
        "exclude": {"type": "array", "items": _TEXT},
        **OVERRIDES,
    },
}

MANIFEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["dataset", "modality", "anatomy", "licence", "citation", "root", "preset"],
    "additionalProperties": False,
    "properties": {
        "dataset": _NAME,
        "modality": {"enum": list(MODALITIES)},
        "anatomy": _TEXT,
        "licence": _TEXT,
        "citation": _TEXT,
        "source": _TEXT,
        "description": _TEXT,
        "root": _TEXT,
        # image/label/fov paths may leave root (after resolving links) only when this is true
        "allow_outside_root": {"type": "boolean"},
        "preset": _TEXT,
        "dims": {"enum": [2, 3]},
        "label": LABEL_RULE,
        "label_key": _TEXT,
        "spacing": SPACING,
        "cases": {"type": "array", "items": CASE},
        # one mapping or a list of them; check_schema wraps a single mapping into a list first
        "cases_glob": {"type": "array", "items": CASES_GLOB, "minItems": 1},
    },
    "anyOf": [{"required": ["cases"]}, {"required": ["cases_glob"]}],
}



@functools.lru_cache(maxsize=1)
def _fast_validator():
    """A compiled fastjsonschema check (a dependency of nbformat, cheap to import) for the common case of
    a valid manifest; None when it cannot compile the schema. Only its yes/no is used: on a no, the full
    jsonschema pass below lists every problem."""
    try:
        import fastjsonschema

        return fastjsonschema.compile(MANIFEST_SCHEMA)
    except Exception:  # not installed, or a keyword it does not know: use jsonschema alone
        return None


def _is_valid_fast(data: Any) -> bool:
    check = _fast_validator()
    if check is None:
        return False
    try:
        check(data)
    except Exception:
        return False
    return True


@functools.lru_cache(maxsize=1)
def _validator():
    """The compiled validator. jsonschema is imported here, not at module import: with its optional format
    checkers installed (as JupyterLab installs them) importing it costs about 2 s of CPU."""
    import jsonschema

    return jsonschema.Draft202012Validator(MANIFEST_SCHEMA)


def _case_name(data: Any, path: list[Any]) -> str:
    """'case 'ID' (cases[3])' for an error under cases[i], 'cases_glob[0]' under a glob, else the key path."""
    if len(path) >= 2 and path[0] == "cases" and isinstance(path[1], int):
        entry = data["cases"][path[1]] if isinstance(data.get("cases"), list) else None
        ident = entry.get("id") if isinstance(entry, dict) else None
        head = f"case '{ident}' (cases[{path[1]}])" if ident is not None else f"cases[{path[1]}]"
        rest = path[2:]
    elif len(path) >= 2 and path[0] == "cases_glob" and isinstance(path[1], int):
        head, rest = f"cases_glob[{path[1]}]", path[2:]
    else:
        head, rest = "manifest", path
    if rest:
        head += " " + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest).lstrip(".")
    return head


def check_schema(data: Any) -> tuple[list[str], set[int], bool]:
    """Check parsed YAML ``data`` against the schema.

    Returns (problems, bad_cases, fatal): one line per violation naming the case where there is one; the
    indices of ``cases`` entries that are invalid (the rest can still be checked); and whether a violation
    outside the ``cases`` entries makes the whole manifest unusable.
    """
    if not isinstance(data, dict):
        return [f"manifest: the top level must be a mapping of keys, not {type(data).__name__}"], set(), True
    if isinstance(data.get("cases_glob"), dict):
        data = {**data, "cases_glob": [data["cases_glob"]]}
    problems: list[str] = []
    bad_cases: set[int] = set()
    fatal = False
    if _is_valid_fast(data):
        return problems, bad_cases, fatal
    from samwidgets.manifest.schema_words import in_manifest_words

    for error in sorted(_validator().iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        path = list(error.absolute_path)
        problems.append(f"{_case_name(data, path)}: {in_manifest_words(error)}")
        if len(path) >= 2 and path[0] == "cases" and isinstance(path[1], int):
            bad_cases.add(path[1])
        else:
            fatal = True
    return problems, bad_cases, fatal


def schema_problems(data: Any) -> list[str]:
    """Every schema violation of the parsed YAML ``data``, one line each (see :func:`check_schema`)."""
    return check_schema(data)[0]
