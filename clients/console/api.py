"""The console's only way to act: the provider's admin API (``/admin/api``), called with the signed-in
person's access token, so the console holds no privilege the API lacks and every action is audited
with that person as the actor. Problems (RFC 9457) come back as ``APIProblem``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from flask import session

from ..common.app import rp

TIMEOUT_SECONDS = 10


class APIProblem(Exception):
    """An RFC 9457 problem from the admin API: ``code`` is the part after the type URN's last colon."""

    def __init__(self, status: int, code: str, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.field = status, code, detail, field


def call(method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None) -> Any:
    """``method`` ``/admin/api`` + ``path``; the decoded JSON (None for 204), or ``APIProblem``."""
    response = _send(method, path, params=params, body=body)
    if response.status_code == 204:
        return None
    return response.json()


def stream(path: str, *, params: Mapping[str, Any] | None = None) -> requests.Response:
    """A streamed GET (the audit export), checked like ``call``; close it when done."""
    return _send("GET", path, params=params, stream=True)


def _send(
    method: str, path: str, *, params: Mapping[str, Any] | None = None, body: Any = None, stream: bool = False
) -> requests.Response:
    token = (session.get("tokens") or {}).get("access_token", "")
    clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
    response = requests.request(
        method,
        rp().config.issuer + "/admin/api" + path,
        params=clean,
        json=body,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        timeout=TIMEOUT_SECONDS,
        stream=stream,
    )
    if response.status_code >= 400:
        raise _problem(response)
    return response


def _problem(response: requests.Response) -> APIProblem:
    try:
        data = response.json()
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    code = str(data.get("type", "")).rpartition(":")[2] or "error"
    return APIProblem(response.status_code, code, str(data.get("detail", "")), data.get("field"))
