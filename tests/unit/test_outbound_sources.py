"""No code in idp/ but the outbound client (idp/core/outbound/) opens HTTP connections: a static check
of the sources (the runtime guard is in tests/conftest.py, tried in tests/e2e/test_outbound.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import idp

IDP_DIR = Path(idp.__file__).resolve().parent
OUTBOUND_DIR = IDP_DIR / "core" / "outbound"
HTTP_MODULES = (
    "requests",
    "urllib.request",
    "http.client",
    "httpx",
    "httpcore",
    "urllib3",
    "aiohttp",
    "pycurl",
    "httplib2",
)


def http_uses(source: str) -> list[str]:
    """Imports of HTTP client libraries, and ``socket.create_connection`` calls, in ``source``."""
    found = []
    banned = lambda name: any(name == m or name.startswith(m + ".") for m in HTTP_MODULES)  # noqa: E731
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if banned(a.name)]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [node.module] if banned(node.module) else []
            found += [f"{node.module}.{a.name}" for a in node.names if banned(f"{node.module}.{a.name}")]
            found += (
                ["socket.create_connection"]
                if node.module == "socket" and any(a.name == "create_connection" for a in node.names)
                else []
            )
        elif isinstance(node, ast.Attribute) and node.attr == "create_connection":
            found.append("socket.create_connection")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, (ast.Name, ast.Attribute))
            and getattr(node.func, "id", getattr(node.func, "attr", "")) in ("import_module", "__import__")
        ):
            found += [
                a.value
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str) and banned(a.value)
            ]
    return found


def test_the_static_check_finds_each_kind_of_http_use():
    for source in (
        "import requests",
        "import urllib.request",
        "from urllib import request",
        "import http.client",
        "from http import client",
        "import httpx",
        "from urllib3 import PoolManager",
        "import aiohttp",
        "import socket\nsocket.create_connection(('x', 1))",
        "from socket import create_connection",
        "importlib.import_module('requests')",
    ):
        assert http_uses(source), source
    assert http_uses("import smtplib, redis, socket, urllib.parse\nfrom http import HTTPStatus") == []


def test_only_idp_outbound_imports_an_http_client():
    files = sorted(IDP_DIR.rglob("*.py"))
    offenders = {
        str(p.relative_to(IDP_DIR)): uses
        for p in files
        if OUTBOUND_DIR not in p.parents
        for uses in [http_uses(p.read_text())]
        if uses
    }
    assert len(files) > 50 and offenders == {}
    assert "urllib3" in " ".join(http_uses((OUTBOUND_DIR / "client.py").read_text()))  # the check sees it
