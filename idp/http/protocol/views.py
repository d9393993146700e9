"""Protocol endpoints (blueprint ``protocol``). Views only call Authlib's ``create_*_response``."""

from __future__ import annotations

from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from authlib.oauth2.rfc6750 import InsufficientScopeError, InvalidTokenError
from flask import Blueprint, Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from idp.core.metrics import TOKENS_ISSUED
from idp.http import uow
from idp.http.context import deps
from idp.http.protocol import cors, interactions
from idp.http.protocol.authorize import authorize as run_authorization
from idp.http.protocol.claims import user_claims
from idp.http.protocol.discovery import DISCOVERY_MAX_AGE, document_bytes
from idp.http.protocol.endpoints import verify_access_token
from idp.http.protocol.errors import own_description
from idp.http.protocol.models import Principal
from idp.http.protocol.server import get_server
from idp.storage.sql import tokens as token_repo

bp = Blueprint("protocol", __name__)
bp.before_request(cors.preflight)
bp.after_request(cors.apply)

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@bp.route("/authorize", methods=["GET", "POST"])
def authorize() -> ResponseReturnValue:
    """OIDC Core §3.1.2.1: GET and POST (form-encoded) are both supported."""
    return run_authorization(get_server().create_oauth2_request(None))


@bp.get("/authorize/resume")
def resume() -> ResponseReturnValue:
    """Continue an authorization request after the sign-in or consent page."""
    interaction, problem = interactions.load_checked(request.args.get("interaction"))
    if interaction is None:
        return interactions.problem_page(problem)
    return run_authorization(interactions.StoredRequest(interaction), interaction)


@bp.post("/token")
@uow.commit_on_success
def token() -> Response:
    response = get_server().create_token_response()
    if response.status_code == 200:
        grant_type = request.form.get("grant_type", "")
        if grant_type in ("authorization_code", "refresh_token", "client_credentials"):
            TOKENS_ISSUED.labels(grant_type).inc()
    response.headers.update(NO_STORE)
    return response


@bp.post("/revoke")
@uow.commit_on_success
def revoke() -> Response:
    return get_server().create_endpoint_response("revocation")


@bp.post("/introspect")
@uow.read_only
def introspect() -> Response:
    response = get_server().create_endpoint_response("introspection")
    response.headers.update(NO_STORE)
    return response


@bp.post("/register")
@uow.commit_on_success
def register() -> Response:
    """RFC 7591 §3: register a client (initial access token unless open registration is on).

    Counted per client IP (``register_ip``) before anything is parsed; if the counters are
    unreachable the request gets a 503 (registration is not worth keeping open during an outage)."""
    from idp.http.context import client_ip

    # Refused with 429 and Retry-After by the error registry (TooManyAttempts).
    deps().throttle.check_rate("register_ip", client_ip())
    return get_server().create_endpoint_response("client_registration")


@bp.route("/register/<client_id>", methods=["GET", "PUT", "DELETE"])
@uow.commit_on_success
def client_configuration(client_id: str) -> Response:
    """RFC 7592 §2: read, replace or delete the client the registration access token belongs to."""
    if request.method == "PUT" and not isinstance(request.get_json(silent=True), dict):
        # Authlib reads the body with a strict ``get_json()``, which would answer in HTML.
        return Response(
            current_app.json.dumps(
                {
                    "error": "invalid_client_metadata",
                    "error_description": "request: the body must be a JSON object of client metadata",
                }
            ),
            status=400,
            mimetype="application/json",
            headers=NO_STORE,
        )
    return get_server().create_endpoint_response("client_configuration")


@bp.route("/userinfo", methods=["GET", "POST"])
@uow.read_only
def userinfo() -> Response:
    """OIDC Core §5.3. Bearer token in the header or (POST) the form body, RFC 6750 §2.1/§2.2.

    Written as a view rather than Authlib's ``UserInfoEndpoint`` because that one reads the
    token only from the Authorization header; the errors and their ``WWW-Authenticate``
    headers are still Authlib's.
    """
    try:
        token_string = _bearer_token()
        if token_string is None:
            # RFC 6750 §3.1: no credentials at all → no error code, just the challenge.
            return Response(status=401, headers={"WWW-Authenticate": 'Bearer realm="userinfo"'})
        # Revocation is checked below, together with the grant and the user, in one query.
        record = verify_access_token(token_string, check_state=False)
        if record is None or record.is_expired():
            raise InvalidTokenError(realm="userinfo")
        get_server().query_client(record.claims["client_id"])  # CORS decides by the token's client
        if "gid" not in record.claims:  # a client-credentials token: nobody to describe
            if not token_repo.access_token_state(uow.session(), record.claims["jti"], None, record.claims["client_id"]):
                raise InvalidTokenError(realm="userinfo")
            raise InsufficientScopeError()
        principal = _principal(record.claims)
        if principal is None:
            raise InvalidTokenError(realm="userinfo")
        if "openid" not in record.get_scope().split():
            raise InsufficientScopeError()
    except OAuth2Error as error:
        status, body, headers = own_description(error)()
        return Response(current_app.json.dumps(dict(body)), status=status, headers=headers, mimetype="application/json")
    response = jsonify(dict(user_claims(principal, record.get_scope(), principal.claims.get("userinfo"))))
    response.headers.update(NO_STORE)
    return response


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization")
    in_body = (
        request.method == "POST"
        and request.mimetype == "application/x-www-form-urlencoded"
        and "access_token" in request.form
    )
    if header and in_body:
        raise InvalidRequestError("Use exactly one method to send the access token.")  # RFC 6750 §2
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise InvalidTokenError(realm="userinfo")
        return value.strip()
    if in_body:
        return request.form["access_token"]
    return None


def _principal(claims: dict[str, Any]) -> Principal | None:
    if not isinstance(claims.get("gid"), str) or not isinstance(claims.get("sub"), str):
        return None
    found = token_repo.userinfo_subject(uow.session(), claims["jti"], claims["gid"], claims["client_id"], claims["sub"])
    return None if found is None else Principal(user=found[0], grant_id=claims["gid"], claims=found[1])


@bp.get("/.well-known/openid-configuration")
def discovery() -> Response:
    return _cached_json(document_bytes(), max_age=DISCOVERY_MAX_AGE)


@bp.get("/jwks.json")
def jwks() -> Response:
    # No longer than a next key is published before it signs (settings validation), so every
    # relying party that honours the cache lifetime holds the next key before it is used.
    return _cached_json(deps().keystore.jwks_bytes(), max_age=deps().settings.keys.jwks_max_age_seconds)


def _cached_json(body: bytes, max_age: int) -> Response:
    response = Response(body, mimetype="application/json")
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.add_etag()
    response.make_conditional(request)  # in place (it returns the same object, typed as werkzeug's)
    return response
