"""Relying-party settings: one frozen object per app, read from ``<PREFIX>_*`` environment variables."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit


class Clock(Protocol):
    def now(self) -> float:
        """Current time as POSIX seconds (tests pass a clock they move)."""


class SystemClock:
    def now(self) -> float:
        return time.time()


class RPConfigError(ValueError):
    """The environment does not describe a usable relying party."""


@dataclass(frozen=True)
class RPConfig:
    #: Shown in the header and page titles.
    name: str
    #: The provider's issuer URL (discovery is read from it).
    issuer: str
    client_id: str
    client_secret: str
    #: This app's own public base URL (redirect, post-logout and back-channel URIs hang off it).
    base_url: str
    #: Signs nothing sensitive (sessions are server-side) but keys the CSRF tokens.
    secret_key: str
    #: SQLite file for the app's sessions and content.
    database: str
    #: Cookie name; unique per app because cookies are shared by every port of one host.
    cookie_name: str
    scope: str = "openid profile email"
    session_idle_seconds: int = 900
    session_max_seconds: int = 28800
    #: ``acr_values`` sent with every sign-in (the console: ``urn:spom:acr:mfa``); empty: none, the
    #: provider's defaults for the client apply and pages may step up (``step_up_required``).
    acr_values: str = ""

    @property
    def redirect_uri(self) -> str:
        return self.base_url + "/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        return self.base_url + "/signed-out"

    @property
    def backchannel_logout_uri(self) -> str:
        return self.base_url + "/backchannel-logout"

    @property
    def secure_cookies(self) -> bool:
        parts = urlsplit(self.base_url)
        return not (parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"))

    @classmethod
    def from_env(cls, prefix: str, defaults: dict[str, str], environ: Mapping[str, str] | None = None) -> RPConfig:
        """Fields from ``<PREFIX>_<FIELD>`` variables over ``defaults``; names every missing one at once."""
        env = os.environ if environ is None else environ
        values, problems = dict(defaults), []
        # <PREFIX>_CLIENT_FILE: the JSON that `idp clients create --json` printed (client_id and
        # client_secret), so a deployment can hand the credentials over in a file rather than in
        # variables; <PREFIX>_CLIENT_ID / _CLIENT_SECRET still win.
        if env.get(f"{prefix}_CLIENT_FILE"):
            values.update(_client_file(f"{prefix}_CLIENT_FILE", env[f"{prefix}_CLIENT_FILE"], problems))
        for f in dataclasses.fields(cls):
            raw = env.get(f"{prefix}_{f.name.upper()}")
            if raw is None and f.type == "int" and f.name in defaults:
                raw = defaults[f.name]  # an app's default, written as text like the variables
            if raw is None:
                continue
            try:
                values[f.name] = int(raw) if f.type == "int" else raw.strip()
            except ValueError:
                problems.append(f"{prefix}_{f.name.upper()}: expected a whole number, got {raw!r}")
        problems += [
            f"{prefix}_{f.name.upper()}: required"
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and not values.get(f.name)
        ]
        for name in ("issuer", "base_url"):
            parts = urlsplit(values.get(name) or "")
            if values.get(name) and (parts.scheme not in ("http", "https") or not parts.hostname):
                problems.append(f"{prefix}_{name.upper()}: must be an absolute http(s) URL")
        if problems:
            raise RPConfigError("; ".join(problems))
        return cls(**values)


def _client_file(variable: str, path: str, problems: list[str]) -> dict[str, Any]:
    import json

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return {"client_id": str(data["client_id"]), "client_secret": str(data["client_secret"])}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        problems.append(f"{variable}: cannot read client_id and client_secret from {path!r} ({exc.__class__.__name__})")
        return {}
