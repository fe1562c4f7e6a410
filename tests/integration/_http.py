"""A real HTTP server on 127.0.0.1 for the webhook tests: answers 200, 500, 500 once, or hangs.

Shared by ``test_alert_channels.py`` (the sink and dispatcher) and ``service/test_channels.py``
(the whole Service). Handler threads are joined when the server closes, so a test can prove none
is left behind.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Server:
    """What one server saw. ``mode``: "ok", "500", "500-once" or "hang"."""

    url: str
    mode: str
    posts: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    connections: int = 0
    #: Set to let hanging handlers return (at the end of the test).
    release: threading.Event = field(default_factory=threading.Event)


class _JoiningServer(ThreadingHTTPServer):
    daemon_threads = False  # handler threads are joined on server_close
    block_on_close = True


@contextmanager
def http_servers(path: str = "/hook?x=1") -> Iterator[Callable[[str], Server]]:
    """``start(mode) -> Server`` for the body of the ``with``; every server is shut down, its
    hanging handlers released and its threads joined on exit."""
    started: list[tuple[Server, _JoiningServer, threading.Thread]] = []

    def start(mode: str) -> Server:
        state = Server(url="", mode=mode)

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                state.connections += 1
                if state.mode == "hang":
                    state.release.wait(30)  # never answers while the test runs
                    return
                body = self.rfile.read(int(self.headers["Content-Length"]))
                state.posts.append(json.loads(body))
                state.headers.append(dict(self.headers))
                fail = state.mode == "500" or (state.mode == "500-once"
                                               and len(state.posts) == 1)
                self.send_response(500 if fail else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        httpd = _JoiningServer(("127.0.0.1", 0), Handler)
        state.url = f"http://127.0.0.1:{httpd.server_address[1]}{path}"
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                  name=f"test-http-{mode}")
        thread.start()
        started.append((state, httpd, thread))
        return state

    try:
        yield start
    finally:
        for state, httpd, thread in started:
            state.release.set()
            httpd.shutdown()
            httpd.server_close()
            thread.join(10)
