"""A throw-away HTTP server on 127.0.0.1 for tests that download (checkpoint fetching)."""

from __future__ import annotations

import contextlib
import http.server
import threading


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler], *, watchdog_s: float = 120):
    """Serve ``handler`` on a free port of 127.0.0.1 in a daemon thread; yields ``(base_url, server)``.

    The server is always shut down on exit, and by itself after ``watchdog_s`` seconds even if the exit
    never runs (a test run never hangs on it).
    """
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    watchdog = threading.Timer(watchdog_s, srv.shutdown)
    watchdog.daemon = True
    watchdog.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", srv
    finally:
        watchdog.cancel()
        srv.shutdown()
        srv.server_close()
        thread.join(timeout=10)
