"""What saves and reloads a session's work: files by suffix, prompt-log replay and autosave restore, and
the log and autosave writes of every edit (:meth:`Persistence.record`, :meth:`Persistence.flush`; a part
the Session owns). It owns the ``replaying`` and ``restoring`` flags the Session reads to skip decoding,
publishing and autosave writes while a log is re-applied.

The Session hands in its parts and callables: ``log`` its PromptLog, ``prompt_log()`` the JSON-safe log,
``autosaver()`` its Autosaver or None, ``replay_onto(events, accept)`` to apply parsed log events to the
session, ``publish(**kw)`` the view state, ``refocus()`` to re-aim background embedding.
"""

from __future__ import annotations

from pathlib import Path

from samwidgets.errors import InputError, PromptError
from samwidgets.widgets.prompt_log import log_path, parse_log


class Persistence:
    """Saving, replay and restore of one session (see the module docstring)."""

    def __init__(self, annotator, log, lock, *, image, shape: tuple[int, ...], prompt_log, autosaver, replay_onto,
                 publish, refocus):
        self.annotator, self.log, self.lock, self.image, self.shape = annotator, log, lock, image, tuple(shape)
        self.prompt_log, self.autosaver, self.replay_onto = prompt_log, autosaver, replay_onto
        self.publish, self.refocus = publish, refocus
        self.replaying = False
        self.restoring = False

    def record(self, op: str, **event) -> None:
        """Log one edit and tell the autosaver (debounced) unless labels are being restored."""
        self.log.record(op, **event)
        autosaver = self.autosaver()
        if autosaver is not None and not self.restoring:
            autosaver.touch()

    def flush(self) -> None:
        """Write the autosave now (on disk when this returns); not while a log is replayed or restored."""
        autosaver = self.autosaver()
        if autosaver is not None and not self.restoring and not self.replaying:
            autosaver.flush()

    def snapshot(self) -> dict:
        """What the Autosaver writes; labels as a callable (copied under the lock only when they changed)."""
        def labels():
            with self.lock:
                return self.annotator.labels.copy()

        with self.lock:
            return {"log": self.prompt_log(), "labels": labels, "label_names": list(self.annotator.label_names),
                    "labels_version": self.annotator.version}

    def replay(self, log, *, accept: bool = True) -> None:
        """Re-apply a prompt log (dict, JSON text or .json path; session or results-table format) made on an
        image of this spatial shape (else PromptError). accept=False skips accept/propagate events (used when
        the labels are restored from a file). Masks are decoded lazily (only where an accepted mask or a
        candidate choice needs one, and for the slice shown); the view state is published once at the end."""
        events, shape = parse_log(log)
        source = log_path(log)
        if shape is not None and tuple(shape) != self.shape:
            raise PromptError(f"the log was made on an image of shape {tuple(shape)}, this one is {self.shape}",
                              where=source or "prompt log")
        self.replaying = True
        try:
            self.replay_onto(events, accept)
        except (PromptError, InputError) as exc:
            if source is None:
                raise
            raise type(exc)(exc.reason, where=source) from None  # name the file, not "prompt log"
        finally:
            self.replaying = False
            self.refocus()
            self.flush()
            self.publish(cause="slice")

    def save(self, path) -> Path:
        """Save by suffix: .json = prompt log; .nii/.nii.gz = label volume with the source geometry
        (samwidgets.io.save_mask, like=image); .png = 2D label map; .npz = labels + label_names. A sidecar
        ``<path>.labels.json`` maps label ids to names for the mask formats. Flushes the autosave."""
        from samwidgets.atomic import write_json_atomic

        path = Path(path)
        if path.name.lower().endswith(".json"):
            write_json_atomic(path, self.prompt_log())
        else:
            with self.lock:
                self.annotator.save(path, like=self.image)
        self.flush()
        return path

    def restore(self, directory=None) -> bool:
        """Restore labels and prompts from an autosave directory (default: the autosaver's); False when it
        holds no autosave yet."""
        from samwidgets.widgets.autosave import SESSION_FILE, read_autosave

        autosaver = self.autosaver()
        if directory is None and autosaver is None:
            raise InputError("no autosave directory given", where="autosave")
        folder = autosaver.directory if directory is None else directory
        loaded = read_autosave(folder)
        if loaded is None:
            return False
        log, labels, names, labels_file = loaded
        folder = Path(folder)
        self.annotator.check_shape(labels, where=folder / Path(str(labels_file)).name if labels_file else folder)
        self.restoring = True
        try:
            try:
                self.replay(log, accept=False)
            except (PromptError, InputError) as exc:  # name the autosave file it came from
                raise type(exc)(f"its prompt log: {exc.reason}", where=folder / SESSION_FILE) from None
            with self.lock:
                self.annotator.restore(labels, names, where=folder)
        finally:
            self.restoring = False
        if autosaver is not None:
            autosaver.touch()
            self.flush()
        self.publish()
        return True
