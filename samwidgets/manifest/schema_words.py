"""Schema errors in the manifest's own words.

jsonschema says "[255, 0] is too short" or "'yellow' is not of type 'integer'"; a manifest author needs
"expected a colour [r, g, b] or a list of colours, got [255, 0]". :func:`in_manifest_words` turns one
``jsonschema.ValidationError`` raised against :data:`samwidgets.manifest.schema.MANIFEST_SCHEMA` into
such a sentence, with a "did you mean" for misspelt keys, modalities and rule types. The caller
(:func:`samwidgets.manifest.schema.check_schema`) prefixes where the error is (``case 'x' (cases[3])``,
``manifest label.labels.optic_disc``).
"""

from __future__ import annotations

import difflib
import json
from typing import Any

_TYPES = {"string": "text", "integer": "a whole number", "number": "a number", "array": "a list",
          "object": "a mapping of keys", "boolean": "true or false", "null": "nothing"}


def _got(value: Any) -> str:
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _mean(word: str, choices) -> str:
    close = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    if not close:
        close = [str(c) for c in choices if str(c).lower() == str(word).lower()]
    return f" (did you mean '{close[0]}'?)" if close else ""


def _key(error) -> str:
    path = [p for p in error.absolute_path if not isinstance(p, int)]
    return str(path[-1]) if path else ""


def _any_of(error) -> str:
    from samwidgets.manifest import schema as S

    if not error.absolute_path:
        return "the manifest lists no cases: give 'cases' or 'cases_glob'"
    got = _got(error.instance)
    if error.schema is S._RGBS:
        return f"expected a colour [r, g, b] (0-255) or a list of colours, got {got}"
    if error.schema is S._NAMES:
        return f"expected a label name (no spaces or '/') or a list of names, got {got}"
    if error.schema is S.LABEL_FILE:
        return f"expected a label file path or {{file: PATH, rule: RULE, key: NAME}}, got {got}"
    if _key(error) == "label":
        return f"expected a label file path or a list of label files, got {got}"
    return f"{got} matches none of the allowed forms"


def _enum(error) -> str:
    from samwidgets.manifest import schema as S

    key, value, choices = _key(error), error.instance, error.validator_value
    if key == "modality":
        return f"'{value}' is not a modality; choose one of {', '.join(S.MODALITIES)}{_mean(value, choices)}"
    if key == "type":
        return f"'{value}' is not a label rule type; choose one of {', '.join(S.LABEL_TYPES)}{_mean(value, choices)}"
    return f"expected one of {', '.join(_got(c) for c in choices)}, got {_got(value)}"


def _unknown(error) -> str:
    allowed = sorted(error.schema.get("properties", {}))
    extra = sorted(k for k in error.instance if k not in allowed) if isinstance(error.instance, dict) else []
    words = [f"'{k}'{_mean(k, allowed)}" for k in extra]
    return f"unknown key{'s' if len(words) > 1 else ''} {', '.join(words)}; allowed here: {', '.join(allowed)}"


def _required(error) -> str:
    missing = error.message.split("'")[1] if "'" in error.message else error.message
    inst = error.instance
    if isinstance(inst, dict) and "type" in inst and missing != "type":
        return f"a '{inst['type']}' label rule needs '{missing}'"
    if isinstance(inst, dict) and missing == "type" and "labels" in inst:
        return "a label rule needs 'type' (one of values, threshold, colours, instances, outline_fill)"
    return f"missing key '{missing}'"


def _size(error) -> str:
    from samwidgets.manifest import schema as S

    got = _got(error.instance)
    if error.schema is S._RGB:
        return f"a colour is [r, g, b] (three values 0-255), got {got}"
    if error.schema is S.SPACING:
        return f"spacing has one value per axis in array order, (y, x) or (z, y, x), got {got}"
    if error.validator == "minProperties":
        return "needs at least one label"
    return f"a list of {'at least' if error.validator == 'minItems' else 'at most'} {error.validator_value} " \
           f"value(s) is needed, got {got}"


def in_manifest_words(error) -> str:
    """One sentence for a jsonschema ValidationError against the manifest schema (see module docstring)."""
    v, got = error.validator, _got(error.instance)
    if v == "anyOf":
        return _any_of(error)
    if v == "enum":
        return _enum(error)
    if v == "additionalProperties":
        return _unknown(error)
    if v == "required":
        return _required(error)
    if v in ("minItems", "maxItems", "minProperties"):
        return _size(error)
    if v == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return f"expected {' or '.join(_TYPES.get(t, t) for t in wanted)}, got {got}"
    if v in ("minimum", "maximum"):
        side = "at least" if v == "minimum" else "at most"
        return f"expected a value {side} {error.validator_value}, got {got}"
    if v == "exclusiveMinimum":
        return f"expected a value above {error.validator_value}, got {got}"
    if v == "pattern":
        return f"{got} must not contain spaces or '/'"
    if v == "minLength":
        return "must not be empty"
    if v == "const":
        return f"expected {_got(error.validator_value)}, got {got}"
    return error.message
