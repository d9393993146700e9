"""Operations surface (blueprint ``ops``): liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import ipaddress

from flask import Blueprint, Response, abort, jsonify, request

from idp.core import metrics as metric_defs
from idp.http.context import deps
from idp.http.ops import health

bp = Blueprint("ops", __name__)
NO_STORE = {"Cache-Control": "no-store"}


@bp.get("/healthz")
def healthz() -> tuple[Response, int, dict[str, str]]:
    """The process is alive and answering (no dependency is consulted)."""
    return jsonify(status="ok"), 200, NO_STORE


@bp.get("/readyz")
def readyz() -> tuple[Response, int, dict[str, str]]:
    """Ready to serve: the database answers, a current signing key exists, and the store (Redis)
    answers or its database fallback is in use (``degraded``, still 200). 503 otherwise, so a load
    balancer stops sending traffic here until it recovers. ``warnings`` (only when there are any)
    names configuration a public deployment should fix, such as a missing help contact; it does not
    change the status."""
    status, checks = health.readiness()
    body: dict[str, object] = {"status": status, "checks": checks}
    if warnings := deps().settings.warnings():
        body["warnings"] = warnings
    return jsonify(body), 503 if status == "unavailable" else 200, NO_STORE


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus exposition, only to direct peers in ``IDP_METRICS_NETWORKS``: never to a request
    relayed by a trusted proxy (that is the public listener), and 404 when not configured."""
    if not _metrics_allowed():
        abort(404)
    body, content_type = metric_defs.exposition(deps().keystore, lambda: deps().now())
    return Response(body, content_type=content_type, headers=NO_STORE)


def _metrics_allowed() -> bool:
    settings = deps().settings
    try:
        peer = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    allowed = [ipaddress.ip_network(c, strict=False) for c in settings.server.metrics_networks]
    proxies = [ipaddress.ip_network(c, strict=False) for c in settings.server.trusted_proxies]
    return any(peer in n for n in allowed) and not any(peer in n for n in proxies)
