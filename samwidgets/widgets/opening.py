"""Opening a Session for a viewer: which autosave folder, what is restored, and what to tell the user.

A case or file autosaves to ``$SAMWIDGETS_CACHE_DIR/autosave/<name>``. When another open viewer holds that
folder (the folder's lock, see autosave.py), this one autosaves to ``<name>-2`` (``-3``, ...) and says so
instead of sharing it silently. restore=True restores the earlier work and says what it restored;
restore=False keeps the earlier autosave aside (renamed) and says where.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from samwidgets.errors import SamwidgetsError
from samwidgets.widgets.autosave import AutosaveInUse, default_autosave_dir, describe_autosave, set_aside_autosave
from samwidgets.widgets.session import Session
from samwidgets.widgets.sources import Opened

MAX_TWINS = 20


@dataclass
class Opening:
    session: Session
    notes: list[tuple[str, str]] = field(default_factory=list)   # (text, level)


def viewer_cache(cache, model):
    """The embedding cache of a viewer's session: for cache="default", a new EmbeddingCache (memory + the
    shared on-disk store under ``$SAMWIDGETS_CACHE_DIR``) when the model is named by string and built for
    this viewer, else None (a predictor object brings its own); any other value as given."""
    if not (isinstance(cache, str) and cache == "default"):
        return cache
    if not isinstance(model, str):
        return None
    from samwidgets.models.cache import EmbeddingCache

    return EmbeddingCache()


def open_session(opened: Opened, *, autosave_dir, restore: bool, **session_kwargs) -> Opening:
    """A Session on ``opened`` with its autosave folder chosen and restored (see the module docstring).

    autosave_dir: "auto", a folder, or None (no autosave). A folder given explicitly and held by another
    open session raises AutosaveInUse (typed)."""
    notes: list[tuple[str, str]] = []
    auto = isinstance(autosave_dir, str) and autosave_dir == "auto"
    folder = default_autosave_dir(opened) if auto else autosave_dir
    make = lambda d: Session(opened, autosave_dir=d, **session_kwargs)  # noqa: E731
    if folder is None:
        return Opening(make(None), notes)
    folder = Path(folder)
    candidates = [folder] + ([folder.with_name(f"{folder.name}-{i}") for i in range(2, MAX_TWINS)] if auto else [])
    for i, d in enumerate(candidates):
        try:
            if not restore and d.exists():
                kept = set_aside_autosave(d)
                if kept is not None:
                    what = describe_autosave(kept)
                    notes.append((f"the earlier autosave ({what}) was kept in {kept}; this viewer starts from "
                                  "the given prompts (restore=True would have restored it)", "info"))
            session = make(d)
        except AutosaveInUse:
            if not auto or i == len(candidates) - 1:
                raise
            continue
        if i:
            notes.append((f"this case is already open in another viewer (autosaving to {folder}); this viewer "
                          f"autosaves to {d}", "warning"))
        if restore:
            session, restored = _restore(session, d, make)
            notes += restored
        return Opening(session, notes)
    raise AutosaveInUse("every autosave folder of this case is in use", where=folder)


def _restore(session: Session, folder: Path, make) -> tuple[Session, list]:
    """(session, notes) after restoring ``folder``; an unusable autosave is set aside (kept, renamed) and a
    fresh session made."""
    what = describe_autosave(folder)
    try:
        if session.restore():
            return session, [(f"restored {what} from {folder} (restore=False starts afresh)", "info")]
        return session, []
    except SamwidgetsError as exc:
        session.close()
        kept = set_aside_autosave(folder)
        return make(folder), [(f"could not restore the autosave ({exc}); it was kept in {kept}", "error")]
