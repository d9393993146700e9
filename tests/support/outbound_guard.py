"""Runtime half of "the outbound client is the only code in idp/ that opens HTTP connections".

An audit hook (PEP 578) sees every ``socket.connect`` in the test process. When the calling stack
holds an HTTP library (http.client, urllib, urllib3, requests, httpx, aiohttp) *and* code from
``idp`` but no frame of ``idp.core.outbound``, provider code reached the network around the policy: the
connect is aborted and the violation recorded, and the autouse fixture in conftest.py fails the
test even if the code under test swallowed the exception. Test code and the relying parties in
``clients/`` may use ``requests`` freely: only stacks that pass through ``idp`` count.
"""

from __future__ import annotations

import sys

HTTP_MODULES = ("http.client", "urllib.request")
HTTP_PACKAGES = ("urllib3", "requests", "httpx", "httpcore", "aiohttp")
violations: list[str] = []
#: Set to a list to have every ``socket.connect`` address appended to it (tests/e2e/test_outbound.py).
recording: list | None = None
_installed = False


class OutboundGuardViolation(PermissionError):
    """Provider code opened an HTTP connection without going through ``idp.core.outbound``. An OSError,
    like a firewall's EPERM, so the socket library closes the half-made socket as it unwinds."""


def _offender(frame) -> str | None:
    http = outbound = False
    idp_frame = None
    while frame is not None:
        name = frame.f_globals.get("__name__") or ""
        if name in HTTP_MODULES or name.split(".", 1)[0] in HTTP_PACKAGES:
            http = True
        elif name == "idp.core.outbound" or name.startswith("idp.core.outbound."):
            outbound = True
        elif name == "idp" or name.startswith("idp."):
            idp_frame = idp_frame or f"{name}:{frame.f_lineno}"
        frame = frame.f_back
    return idp_frame if http and idp_frame and not outbound else None


def _hook(event: str, args) -> None:
    if event != "socket.connect":
        return
    if recording is not None:
        recording.append(args[1])
    offender = _offender(sys._getframe(1))
    if offender is not None:
        message = f"{offender} opened an HTTP connection to {args[1]!r} outside idp.core.outbound"
        violations.append(message)
        raise OutboundGuardViolation(message)


def install() -> None:
    """Add the hook once per process (audit hooks cannot be removed)."""
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
