"""Admin JSON API (``/admin/api/``) for the identity team: clients, registration tokens, users, audit.

Callers authenticate with the provider's own RFC 9068 access tokens: a ``client_credentials``
token carrying the ``idp:admin`` scope, issued to an admin client (``idp clients create-admin``), or
a person's token from the console (``idp:console``), whose console roles (``idp.domain.staff``) say
which endpoints it may call (``allow``) and, for an app team, which clients it sees.
Errors are RFC 9457 problem details. The OpenAPI 3.1 description is ``openapi.py``; a test
checks that it and the routes agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Blueprint, Flask, Response, current_app, g, request

from idp.domain import staff
from idp.domain.clients.rules import ADMIN_SCOPE, CONSOLE_SCOPE
from idp.http import uow
from idp.http.context import deps

if TYPE_CHECKING:
    from idp.http.protocol.models import AccessTokenRecord
    from idp.storage.sql.models import Client

V = TypeVar("V", bound=Callable[..., Any])

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


#: The roles that may call each endpoint (``allow``); an endpoint that names none is the identity team's.
DEFAULT_ROLES = (staff.IDENTITY,)


def allow(*roles: str) -> Callable[[V], V]:
    """Mark a view callable by holders of any of ``roles`` (``staff.TEAM_PREFIX``: any app team's member;
    the view itself then keeps the member to its team's clients)."""

    def mark(view: V) -> V:
        view.idp_admin_roles = roles  # type: ignore[attr-defined]  # a marker attribute on a function
        return view

    return mark


@bp.before_request
def authenticate() -> None:
    """Bearer token from this provider, of one of two kinds:

    - a person's, from the console (``idp:console`` scope, a client registered with it, a second factor
      in ``acr``, an active user): their console roles, read now, decide;
    - an automation's: ``idp:admin`` scope, issued by client_credentials to a client that still exists,
      is enabled and still holds the scope; it has the identity team's and security staff's roles."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return
    from idp.http.protocol.endpoints import verify_access_token

    scheme, _, value = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Problem(
            401,
            "unauthorized",
            "A bearer access token with the idp:admin or idp:console scope is required.",
            headers={"WWW-Authenticate": CHALLENGE},
        )
    record = verify_access_token(value.strip())
    if record is None or record.is_expired() or record.is_revoked():
        raise Problem(
            401,
            "invalid_token",
            "The access token is invalid, expired or revoked.",
            headers={"WWW-Authenticate": CHALLENGE + ', error="invalid_token"'},
        )
    caller = _person(record.claims, record.get_scope()) if "gid" in record.claims else _service(record)
    g.admin_caller = caller
    view = current_app.view_functions.get(request.endpoint or "")
    if not caller.holds_any(*getattr(view, "idp_admin_roles", DEFAULT_ROLES)):
        raise Problem(403, "forbidden", "Your console roles do not include this action; the identity team gives roles.")


CHALLENGE = 'Bearer realm="admin", scope="idp:admin"'


def _insufficient(detail: str) -> Problem:
    return Problem(
        403, "insufficient_scope", detail, headers={"WWW-Authenticate": CHALLENGE + ', error="insufficient_scope"'}
    )


def _service(record: AccessTokenRecord) -> staff.Caller:
    client = uow.session().get(_client_model(), record.claims["client_id"])
    if ADMIN_SCOPE not in record.get_scope().split() or client is None or ADMIN_SCOPE not in client.scope.split():
        raise _insufficient("The access token does not carry the idp:admin scope.")
    return staff.Caller(actor=f"admin:{client.client_id}", roles=frozenset({staff.IDENTITY, staff.SECURITY}))


def _person(claims: Mapping[str, Any], scope: str) -> staff.Caller:
    """A person signed in to the console: the token must come from a client registered with the console
    scope, name a second factor in ``acr``, and speak for an active user who holds a console role."""
    from idp.domain.factors.policy import MFA_ACR
    from idp.storage.sql import staff as staff_repo
    from idp.storage.sql import users as user_repo

    db = uow.session()
    client = db.get(_client_model(), claims["client_id"])
    if CONSOLE_SCOPE not in scope.split() or client is None or CONSOLE_SCOPE not in client.scope.split():
        raise _insufficient("The access token does not carry the idp:admin or idp:console scope.")
    if claims.get("acr") != MFA_ACR:
        raise _insufficient("The console needs a sign-in with a second factor (acr urn:spom:acr:mfa).")
    user = user_repo.get_user_by_sub(db, str(claims.get("sub", ""))[:64])
    if user is None or not user.active:
        raise Problem(401, "invalid_token", "The access token's user is unknown or disabled.")
    roles = frozenset(staff_repo.roles_of(db, user.id))
    if not roles:
        raise Problem(403, "forbidden", "You hold no console role; the identity team gives roles.")
    return staff.Caller(actor=f"user:{user.sub}", roles=roles, user_id=user.id)


def _client_model() -> type[Client]:
    from idp.storage.sql.models import Client

    return Client


def caller() -> staff.Caller:
    return g.admin_caller


def actor() -> str:
    return caller().actor


def now() -> float:
    return deps().now()


def init_app(app: Flask) -> None:
    from idp.http.admin import (
        security,  # noqa: F401  (registers the security staff's routes)
        views,  # noqa: F401  (registers the routes)
    )

    app.register_blueprint(bp)
