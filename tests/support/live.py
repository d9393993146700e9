"""A WSGI app served on a loopback port by a background thread (werkzeug), and free ports."""

from __future__ import annotations

import socket
import threading

from werkzeug.serving import make_server

#: How often a serving thread checks whether it should stop: every live server's shutdown waits for it, once
#: per test (werkzeug's 0.5 s default, or even 0.05 s, added seconds to the suite's wall time).
POLL_SECONDS = 0.005


def _closed_before_sending(app):
    """The response body read whole, and its iterable closed, before werkzeug sends a byte.

    werkzeug's development server closes a response iterable only after it registered the socket with a
    selector, and that raises when the browser already dropped the connection (a page left while its
    script loads): the static file's handle then leaked, and its ResourceWarning failed a later test.
    The provider's own server (granian) closes it; only this test server needs the guard."""

    def run(environ, start_response):
        body = app(environ, start_response)
        try:
            return [b"".join(body)]
        finally:
            if hasattr(body, "close"):
                body.close()

    return run


class LiveServer:
    def __init__(self, app, port):
        self.server = make_server("127.0.0.1", port, _closed_before_sending(app), threaded=True)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, daemon=True
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
