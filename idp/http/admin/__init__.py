"""Admin JSON API (``/admin/api/``) for the identity team: clients, registration tokens, users, audit.

Callers authenticate with the provider's own RFC 9068 access tokens: a ``client_credentials``
token carrying the ``idp:admin`` scope, issued to an admin client (``idp clients create-admin``).
Errors are RFC 9457 problem details. The OpenAPI 3.1 description is ``openapi.py``; a test
checks that it and the routes agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from flask import Blueprint, Flask, Response, current_app, g, request

from idp.domain.clients.rules import ADMIN_SCOPE
from idp.http import uow
from idp.http.context import deps

if TYPE_CHECKING:
    from idp.storage.sql.models import Client

bp = Blueprint("admin", __name__, url_prefix="/admin/api")
PREFIX = "/admin/api/"
PROBLEM_TYPE = "urn:spom-login:problem:"
PUBLIC_ENDPOINTS = {"admin.openapi"}


class Problem(Exception):
    """An RFC 9457 problem: ``code`` becomes the ``type`` URN, ``field`` names a bad input."""

    def __init__(
        self, status: int, code: str, detail: str, field: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.field, self.headers = status, code, detail, field, headers or {}


TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def problem_response(
    status: int, code: str, detail: str, field: str | None = None, headers: Mapping[str, str] | None = None
) -> Response:
    body = {"type": PROBLEM_TYPE + code, "title": TITLES.get(status, "Error"), "status": status, "detail": detail}
    if field:
        body["field"] = field
    response = current_app.response_class(
        current_app.json.dumps(body), status=status, mimetype="application/problem+json"
    )
    response.headers.update(headers or {})
    response.headers["Cache-Control"] = "no-store"
    return response


def is_admin_path() -> bool:
    return request.path.startswith(PREFIX)


@bp.errorhandler(Problem)
def _render_problem(exc: Problem) -> Response:
    return problem_response(exc.status, exc.code, exc.detail, exc.field, exc.headers)


@bp.before_request
def authenticate() -> None:
    """Bearer token from this provider: ``idp:admin`` scope, issued by client_credentials to a
    client that still exists, is enabled and still holds the scope."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    from idp.http.protocol.endpoints import verify_access_token

    scheme, _, value = (request.headers.get("Authorization") or "").partition(" ")
    challenge = 'Bearer realm="admin", scope="idp:admin"'
    if scheme.lower() != "bearer" or not value.strip():
        raise Problem(
            401,
            "unauthorized",
            "A bearer access token with the idp:admin scope is required.",
            headers={"WWW-Authenticate": challenge},
        )
    record = verify_access_token(value.strip())
    if record is None or record.is_expired() or record.is_revoked():
        raise Problem(
            401,
            "invalid_token",
            "The access token is invalid, expired or revoked.",
            headers={"WWW-Authenticate": challenge + ', error="invalid_token"'},
        )
    client = uow.session().get(_client_model(), record.claims["client_id"])
    if (
        ADMIN_SCOPE not in record.get_scope().split()
        or "gid" in record.claims
        or client is None
        or ADMIN_SCOPE not in client.scope.split()
    ):
        raise Problem(
            403,
            "insufficient_scope",
            "The access token does not carry the idp:admin scope.",
            headers={"WWW-Authenticate": challenge + ', error="insufficient_scope"'},
        )
    g.admin_actor = f"admin:{client.client_id}"


def _client_model() -> type[Client]:
    from idp.storage.sql.models import Client

    return Client


def actor() -> str:
    return g.admin_actor


def now() -> float:
    return deps().now()


def init_app(app: Flask) -> None:
    from idp.http.admin import views  # noqa: F401  (registers the routes)

    app.register_blueprint(bp)
