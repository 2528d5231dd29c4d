"""One long task at a time for a viewer (propagation, segment everything, heat maps): in a worker thread
in background mode, inline otherwise; cancellable; its result or error goes to the info line."""

from __future__ import annotations

import threading
from typing import Callable

from samwidgets.errors import SamwidgetsError


class TaskRunner:
    """Runs ``work(cancelled: threading.Event) -> message``; ``say(text, error=..., level=...)`` reports."""

    def __init__(self, *, background: bool, say: Callable):
        self.background = bool(background)
        self.say = say
        self.thread: threading.Thread | None = None
        self.cancelled = threading.Event()

    @property
    def busy(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self, start_message: str, work: Callable[[threading.Event], str | None]) -> bool:
        """Start ``work``; False (and a message) when another task still runs."""
        if self.busy:
            self.say("still busy with the previous task", level="warning")
            return False
        self.cancelled = threading.Event()
        self.say(start_message, level="info")
        cancelled = self.cancelled

        def run():
            try:
                message = work(cancelled)
                if message:
                    self.say(message, level="info")
            except SamwidgetsError as exc:
                self.say(str(exc), error=True)
            except Exception as exc:  # noqa: BLE001 - a bug must not kill the widget
                self.say(f"internal error: {type(exc).__name__}: {exc}", error=True)

        if self.background:
            self.thread = threading.Thread(target=run, name="samwidgets-task", daemon=True)
            self.thread.start()
        else:
            run()
        return True

    def cancel(self) -> None:
        """Ask the running task to stop (it checks the event between steps)."""
        self.cancelled.set()

    def join(self, timeout: float | None = None) -> None:
        if self.thread is not None:
            self.thread.join(timeout)
