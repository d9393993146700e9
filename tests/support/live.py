"""A WSGI app served on a loopback port by a background thread (werkzeug), and free ports."""

from __future__ import annotations

import socket
import threading

from werkzeug.serving import make_server


class LiveServer:
    def __init__(self, app, port):
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

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
