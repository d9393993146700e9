"""Fixtures of the interop tier: the Node scripts under ``node/`` (openid-client, run as
subprocesses that speak JSON lines) and a loopback static server for the browser app
(oidc-client-ts in Chromium). The libraries come from ``node_modules/`` (``make install`` runs
``npm ci`` on the pinned ``package-lock.json``)."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.constants import ROOT
from tests.support.helpers import Browser
from tests.support.live import POLL_SECONDS, free_port

NODE_DIR = Path(__file__).parent / "node"
NODE_MODULES = ROOT / "node_modules"
NODE_TIMEOUT = 30


def require_package(name: str) -> Path:
    path = NODE_MODULES / name
    if not (path / "package.json").exists():
        pytest.fail(f"{name} is not installed in node_modules/: run `make install` (npm ci)")
    return path


@functools.cache
def node_binary() -> str:
    """The machine's node; openid-client 6 needs Node.js 20 or newer (WebCrypto and fetch as globals)."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH (the interop suite runs openid-client in Node.js 20+)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10, check=True).stdout
    if int(version.strip().lstrip("v").split(".")[0]) < 20:
        pytest.fail(f"openid-client 6 needs Node.js 20 or newer; node is {version.strip()}")
    return node


class NodeScript:
    """``node node/SCRIPT.mjs SPEC``: each line it prints is one JSON object; ``{"failure": …}`` is
    what the library threw."""

    def __init__(self, script: str, spec: dict[str, Any]) -> None:
        require_package("openid-client")
        self.process = subprocess.Popen(
            [node_binary(), str(NODE_DIR / script), json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=NODE_DIR,
        )
        self._timer = threading.Timer(NODE_TIMEOUT, self.process.kill)
        self._timer.start()

    def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            stderr = self.process.stderr.read() if self.process.stderr else ""
            raise AssertionError(f"node exited ({self.process.returncode}) without output: {stderr[-2000:]}")
        message = json.loads(line)
        assert "failure" not in message, message["failure"]
        return message

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def result(self) -> dict[str, Any]:
        result = self.read()["result"]
        assert self.process.wait() == 0
        return result

    def close(self) -> None:
        self._timer.cancel()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def node_script() -> Iterator[Any]:
    """``node_script(SCRIPT, spec) -> NodeScript``; every process is ended after the test."""
    started: list[NodeScript] = []

    def start(script: str, spec: dict[str, Any]) -> NodeScript:
        started.append(NodeScript(script, spec))
        return started[-1]

    yield start
    for script in started:
        script.close()


def complete_login(browser: Browser, authorization_url: str, redirect_uri: str) -> str:
    """What the user does at the provider: sign in (and consent when asked); returns the URL the
    provider sends the browser back to."""
    response = browser.follow(browser.get(authorization_url), stop_at=redirect_uri)
    if response.status_code == 200 and "Sign in" in response.text:
        response = browser.follow(browser.submit_login(response), stop_at=redirect_uri)
    if response.status_code == 200 and "Allow" in response.text:
        response = browser.follow(browser.submit_consent(response), stop_at=redirect_uri)
    assert response.status_code in (302, 303), response.text[:500]
    location = response.headers["Location"]
    assert location.startswith(redirect_uri), location
    return location


# -- the browser app -------------------------------------------------------------------------------


@dataclass
class StaticSite:
    url: str
    root: Path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def static_site(tmp_path: Path) -> Iterator[StaticSite]:
    """A directory served over plain http on a loopback port (the SPA's origin)."""
    root = tmp_path / "site"
    root.mkdir()
    port = free_port()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, daemon=True)
    thread.start()
    yield StaticSite(f"http://127.0.0.1:{port}", root)
    server.shutdown()
    server.server_close()
