"""Prompt logs: the JSON record of a session's edits, replayable onto the same image.

Two formats are read:

* the session log written by :class:`samwidgets.widgets.Session` ::

    {"format": "samwidgets.prompt_log", "version": 1, "image_shape": [z, y, x] or [y, x],
     "source": "path or null", "model": "litemedsam",
     "events": [{"op": "click", "slice": 3, "x": 120.0, "y": 88.5, "positive": true},
                {"op": "box", "slice": 3, "box": [x0, y0, x1, y1]}, {"op": "undo"}, {"op": "redo"},
                {"op": "clear", "slice": 3}, {"op": "select", "slice": 3, "index": 1},
                {"op": "set_slice", "slice": 4}, {"op": "accept", "slice": 3, "label": "lesion"},
                {"op": "propagate", "slice": 3, "label": "lesion", "z_range": [0, 12] or null},
                {"op": "set_prompt", "slice": 3, "prompt": Prompt.to_json()},
                {"op": "segment_everything", "slice": 3, "n_per_side": 8, "iou_threshold": 0.7, "min_score": 0.5},
                {"op": "accept_everything", "slice": 3, "index": 0, "label": "cell"}]}

  Coordinates are xy pixels of the original slice, boxes xyxy.

* the results-table log of the evaluation runner ``{"slice": z, "prompts": [Prompt.to_json(), ...],
  "protocol": ...}``: it becomes ``set_slice`` and one ``set_prompt`` event per prompt (each prompt replaces
  the slice's prompt state, so the last one is shown and undo steps back through the earlier rounds).
"""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

from samwidgets.errors import InputError, PromptError, SamwidgetsError

FORMAT = "samwidgets.prompt_log"
VERSION = 1
#: the largest JSON file read back as a prompt log or an autosave (a long session's log is a few MB)
MAX_LOG_BYTES = 256 << 20
# each operation and the keys its event must carry (numbers: "x", "y", "slice", "index"; "box": 4 numbers)
REQUIRED = {"click": ("x", "y"), "box": ("box",), "undo": (), "redo": (), "clear": (), "select": ("index",),
            "set_slice": ("slice",), "accept": ("label",), "propagate": ("label",), "set_prompt": ("prompt",),
            "segment_everything": (), "accept_everything": ("index", "label")}
OPS = tuple(REQUIRED)
NUMBER_KEYS = ("x", "y", "slice", "index")


def make_log(events: list[dict], *, image_shape, source, model: str | None) -> dict:
    """The session log dict (see module docstring)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "image_shape": [int(s) for s in image_shape],
        "source": None if source is None else str(source),
        "model": model,
        "events": [dict(e) for e in events],
    }


def parse_log(log, *, where: str = "prompt log") -> tuple[list[dict], list[int] | None]:
    """Events and image shape (or None) of a log given as a dict, a JSON string or a path to a .json file.

    Raises PromptError naming ``where`` when the log is unreadable or holds an unknown operation.
    """
    path = log_path(log)
    if path is not None:
        where = str(path)
        log = read_json_file(path, "the prompt log", error=PromptError)
    elif isinstance(log, (str, bytes)):
        try:
            log = json.loads(log)
        except (ValueError, RecursionError) as exc:
            raise PromptError(f"the prompt log is not valid JSON: {_json_problem(exc)}", where=where) from None
    if not isinstance(log, dict):
        raise PromptError(f"a prompt log must be a JSON object, got {type(log).__name__}", where=where)
    if log.get("format") == FORMAT:
        version = log.get("version", 0)
        if isinstance(version, bool) or not isinstance(version, int):
            raise PromptError(f"the prompt log version must be an integer, got {version!r}", where=where)
        if version > VERSION:
            raise PromptError(f"prompt log version {version} is newer than this samwidgets", where=where)
        events = log.get("events")
        if not isinstance(events, list):
            raise PromptError("the prompt log has no 'events' list", where=where)
        for i, ev in enumerate(events):
            check_event(ev, i, where=where)
        shape = log.get("image_shape")
        if shape is not None and not (isinstance(shape, list) and all(_is_whole(v) for v in shape)):
            raise PromptError(f"image_shape must be a list of integers, got {shape!r}", where=where)
        return events, None if shape is None else [int(s) for s in shape]
    if "prompts" in log:
        z = log.get("slice") or 0
        if not _is_number(z):
            raise PromptError(f"'slice' must be a number, got {z!r}", where=where)
        z = int(z)
        prompts = log["prompts"]
        if not isinstance(prompts, list):
            raise PromptError("'prompts' must be a list of Prompt.to_json() dicts", where=where)
        events = [{"op": "set_slice", "slice": z}]
        events += [{"op": "set_prompt", "slice": z, "prompt": p} for p in prompts]
        return events, None
    raise PromptError("not a prompt log: expected 'format': 'samwidgets.prompt_log' or a 'prompts' list", where=where)


def log_path(log) -> Path | None:
    """The file a log given as a path (Path, or a str that is not JSON text) is read from; None otherwise."""
    if isinstance(log, Path) or (isinstance(log, str) and not log.lstrip().startswith("{")):
        return Path(log)
    return None


def check_regular_file(path: Path, what: str, *, error: type[SamwidgetsError] = InputError,
                       missing_ok: bool = False) -> os.stat_result | None:
    """The stat of ``path``, checked before anything opens it: ``error`` naming ``path`` when it exists but
    is not a regular file (a FIFO would block a read, a folder cannot be read) or cannot be looked up; a
    missing file is an error too, unless ``missing_ok`` (then None)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        if missing_ok:
            return None
        raise error(f"{what} is missing", where=path) from None
    except OSError as exc:
        raise error(f"cannot read {what}: {exc.strerror or exc}", where=path) from None
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{what} is not a regular file", where=path)
    return st


def read_json_file(path: Path, what: str, *, error: type[SamwidgetsError] = InputError):
    """The JSON content of ``path`` (a prompt log or an autosave): a regular file of at most MAX_LOG_BYTES
    (:func:`check_regular_file`); ``error`` naming it otherwise, or when it is not JSON (nesting too deep
    included: a RecursionError of the parser)."""
    st = check_regular_file(path, what, error=error)
    if st.st_size > MAX_LOG_BYTES:
        raise error(f"{what} is larger than {MAX_LOG_BYTES:,} bytes", where=path)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as exc:
        raise error(f"cannot read {what}: {_json_problem(exc)}", where=path) from None


def _json_problem(exc: Exception) -> object:
    return "nested too deeply" if isinstance(exc, RecursionError) else exc


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_whole(value) -> bool:
    return _is_number(value) and math.isfinite(value) and float(value).is_integer()


def check_event(ev, i: int, *, where: str) -> None:
    """PromptError naming event ``i`` when it is not a dict with a known op and the keys that op needs."""
    if not isinstance(ev, dict) or ev.get("op") not in REQUIRED:
        raise PromptError(f"event {i} has an unknown operation: {ev!r}", where=where)
    missing = [k for k in REQUIRED[ev["op"]] if k not in ev]
    if missing:
        raise PromptError(f"event {i} ({ev['op']}) lacks {', '.join(missing)}", where=where)
    for k in NUMBER_KEYS:
        if k in ev and not _is_number(ev[k]):
            raise PromptError(f"event {i} ({ev['op']}): {k} must be a number, got {ev[k]!r}", where=where)
    if "box" in ev and not (isinstance(ev["box"], list) and len(ev["box"]) == 4 and all(map(_is_number, ev["box"]))):
        raise PromptError(f"event {i} (box): box must be 4 numbers x0, y0, x1, y1, got {ev['box']!r}", where=where)
    if "positive" in ev and not isinstance(ev["positive"], bool):
        raise PromptError(f"event {i} ({ev['op']}): positive must be true or false, got {ev['positive']!r}",
                          where=where)
    zr = ev.get("z_range")
    if zr is not None and not (isinstance(zr, list) and len(zr) == 2 and all(map(_is_whole, zr))):
        raise PromptError(f"event {i} ({ev['op']}): z_range must be null or 2 slice numbers, got {zr!r:.80}",
                          where=where)
    if "prompt" in ev and not isinstance(ev["prompt"], dict):
        raise PromptError(f"event {i} ({ev['op']}): prompt must be a Prompt.to_json() object, got "
                          f"{type(ev['prompt']).__name__}", where=where)


def replay_events(session, events: list[dict], *, accept: bool = True) -> None:
    """Apply parsed events to a Session through its public methods (each re-records itself in the log).

    accept=False turns accept/propagate into no-op undo steps (the labels come from an autosave), so later
    undo/redo events still pair with the right changes.
    """
    for i, ev in enumerate(events):
        try:
            _apply_event(session, ev, accept=accept)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PromptError(f"event {i} ({ev.get('op')}) cannot be replayed: {type(exc).__name__}: {exc}",
                              where="prompt log") from None
        except (PromptError, InputError) as exc:  # the session refused it: say which event
            raise type(exc)(f"event {i} ({ev.get('op')}) cannot be replayed: {exc}", where="prompt log") from None


def _apply_event(session, ev: dict, *, accept: bool) -> None:
    """One event through the session's public methods."""
    op = ev["op"]
    if "slice" in ev and op != "set_slice" and int(ev["slice"]) != session.z:
        session.set_slice(int(ev["slice"]))
    if op == "click":
        session.click(ev["x"], ev["y"], positive=bool(ev.get("positive", True)))
    elif op == "box":
        session.box(*ev["box"])
    elif op == "set_slice":
        session.set_slice(int(ev["slice"]))
    elif op == "set_prompt":
        session.set_prompt(ev["prompt"])
    elif op in ("undo", "redo", "clear"):
        getattr(session, op)()
    elif op == "select":
        session.select(int(ev["index"]))
    elif op == "segment_everything":
        session.segment_everything(**{k: ev[k] for k in ("n_per_side", "iou_threshold", "min_score") if k in ev})
    elif op == "accept_everything" and accept:
        session.accept_everything(int(ev["index"]), ev["label"])
    elif op == "accept" and accept:
        session.accept(ev["label"])
    elif op == "propagate" and accept:
        session.propagate(ev["label"], z_range=ev.get("z_range"))
    elif op in ("accept", "propagate", "accept_everything"):
        session.record_restored(op, **{k: v for k, v in ev.items() if k != "op"})


class PromptLog:
    """The list of a session's edit events (a part the Session owns); see the module docstring."""

    def __init__(self):
        self.events: list[dict] = []

    def record(self, op: str, **event) -> None:
        self.events.append({"op": op, **event})

    def as_dict(self, *, image_shape, source, model: str | None) -> dict:
        """The JSON-safe session log."""
        return make_log(self.events, image_shape=image_shape, source=source, model=model)
