"""Loopback servers and a fake DNS for the outbound-client tests (tests/e2e/test_outbound.py and the
jwks_uri test): a listener that only counts connections, an HTTP(S) server that answers what the test
says (TLS through a ``trustme`` CA, recording the SNI name it was asked for), and a resolver that
answers what the test says, call by call."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.live import POLL_SECONDS


class Listener:
    """Accepts TCP connections on ``host`` and counts them; never answers (a stalled server)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def connections(self) -> int:
        return len(self.accepted)

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (close alone does not)
        self.sock.close()
        for conn in self.accepted:
            conn.close()
        self._thread.join(timeout=5)


class Server:
    """An HTTP server on loopback; ``respond(handler) -> (status, headers, body)`` decides each answer.
    With ``tls`` (a trustme ``LeafCert``) it speaks https and records the SNI names it was sent."""

    def __init__(self, respond, host: str = "127.0.0.1", port: int = 0, tls=None):
        outer = self
        self.requests: list[dict] = []
        self.sni: list[str | None] = []

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                outer.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": self.rfile.read(length) if length else b"",
                    }
                )
                status, headers, body = respond(self)
                if status is None:  # the respond function wrote the answer itself
                    return
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if "Content-Length" not in headers and "Transfer-Encoding" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer  # noqa: N815  the names http.server dispatches to

            def log_message(self, *args):
                pass

        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_class = type("Server", (ThreadingHTTPServer,), {"address_family": family, "daemon_threads": True})
        self.server = server_class((host, port), Handler)
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.configure_cert(context)
            context.sni_callback = lambda sock, name, ctx: self.sni.append(name)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, daemon=True
        )
        self._thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def ok(body: bytes = b"{}", content_type: str = "application/json"):
    """A ``respond`` function that always answers 200 with ``body``."""
    return lambda handler: (200, {"Content-Type": content_type}, body)


class FakeDNS:
    """A resolver for ``OutboundClient``: ``answers[name]`` is a list of addresses, or a list of such
    lists served one per call (the last one repeats), so a test can change the answer between calls."""

    def __init__(self, answers: dict[str, list]):
        self.answers = answers
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        answer = self.answers[host]
        if answer and isinstance(answer[0], list):
            return answer.pop(0) if len(answer) > 1 else answer[0]
        return answer
