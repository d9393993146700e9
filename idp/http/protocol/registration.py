"""Dynamic client registration (RFC 7591) and its management protocol (RFC 7592) through Authlib.

``POST /register`` needs an initial access token issued to an app team (``idp clients
issue-registration-token``) unless ``IDP_OPEN_REGISTRATION`` is set. The response carries a
``registration_access_token`` (stored hashed) and a ``registration_client_uri``
(``/register/<client_id>``) with which the team reads, replaces and deletes that one client.
The metadata rules are ``idp.domain.clients.rules``'s, the same for the CLI and the admin API.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import AccessDeniedError, OAuth2Request
from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint, InvalidClientMetadataError, InvalidRedirectURIError
from authlib.oauth2.rfc7592 import ClientConfigurationEndpoint
from flask import Request
from flask import request as flask_request

from idp.core.errors import ClientMetadataError
from idp.domain.clients.rules import ClientSpec, client_metadata, spec_from_metadata, spec_of
from idp.http import uow, usecases
from idp.http.context import deps
from idp.http.protocol.errors import OwnDescription
from idp.http.protocol.models import OAuthClient
from idp.storage.sql import clients as client_repo
from idp.storage.sql.models import Client, InitialAccessToken

REALM = "register"


class OpenRegistration:
    """The credential of a request when open registration is enabled (no initial access token)."""

    id: int | None = None
    team: str | None = None


class MetadataRefused(OwnDescription, InvalidClientMetadataError):
    """``invalid_client_metadata`` with the rule's text, ``field: message`` (both constant)."""


class RedirectURIRefused(OwnDescription, InvalidRedirectURIError):
    """``invalid_redirect_uri`` with the rule's text, ``field: message`` (both constant)."""


def rfc7591_error(exc: ClientMetadataError) -> MetadataRefused | RedirectURIRefused:
    """RFC 7591 §3.2.2: ``invalid_redirect_uri`` or ``invalid_client_metadata``, naming the field.
    The message is constant text (it never quotes the metadata); tests/unit/test_error_descriptions.py
    checks every ``ClientMetadataError`` in the sources."""
    cls = RedirectURIRefused if exc.error == "invalid_redirect_uri" else MetadataRefused
    return cls(description=str(exc))


def _bearer(request: OAuth2Request | Request) -> str | None:
    scheme, _, value = (request.headers.get("Authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _parse(privileged_defaults: ClientSpec | None = None) -> ClientSpec:
    """The request's metadata as a spec, or the RFC 7591 error naming the bad field."""
    try:
        return spec_from_metadata(
            flask_request.get_json(silent=True),
            privileged=False,
            defaults=privileged_defaults,
            allow=deps().outbound.allow,
        )
    except ClientMetadataError as exc:
        raise rfc7591_error(exc) from None


class RegistrationEndpoint(ClientRegistrationEndpoint):
    """RFC 7591 §3. Authlib runs the flow; we authenticate, parse with our rules and store."""

    def authenticate_token(self, request: OAuth2Request) -> InitialAccessToken | OpenRegistration:
        token = _bearer(request)
        if token is None and deps().settings.clients.open_registration:
            return OpenRegistration()
        if token is None:
            raise InvalidTokenError(
                description="An initial access token is required to register a client.", realm=REALM
            )
        row = client_repo.find_initial_token(uow.session(), token, deps().now())
        if row is None:
            raise InvalidTokenError(description="The initial access token is invalid or has expired.", realm=REALM)
        return row

    def extract_client_metadata(self, request: OAuth2Request) -> dict[str, Any]:
        request.spec = _parse()
        return {}

    def generate_client_info(self, request: OAuth2Request) -> dict[str, Any]:
        return {}  # id, secret and times are made in ``save_client`` and returned by the next method

    def save_client(
        self, client_info: dict[str, Any], client_metadata: dict[str, Any], request: OAuth2Request
    ) -> OAuthClient:
        db, credential = uow.session(), request.credential
        if credential.id is not None and not client_repo.take_initial_token_slot(db, credential.id):
            raise AccessDeniedError(description="This initial access token has registered all the clients it allows.")
        actor = f"team:{credential.team}" if credential.team else "open-registration"
        row, request.new_secret, request.registration_token = usecases.clients().create(
            request.spec, actor=actor, team=credential.team, registration_token=True
        )
        return OAuthClient(row, deps().settings.server.secret_key)

    def generate_client_registration_info(self, client: OAuthClient, request: OAuth2Request) -> dict[str, Any]:
        return _registration_body(client.row, request.registration_token, request.new_secret)

    def get_server_metadata(self) -> dict[str, Any]:
        from idp.http.protocol.discovery import metadata

        settings = deps().settings
        return metadata(settings.server.issuer, settings.tokens.access_token_alg)


class RegistrationAccess:
    """An RFC 7592 registration access token, good for exactly one client."""

    def __init__(self, row: Client, token: str) -> None:
        self.row, self.token = row, token

    def check_client(self, client: OAuthClient) -> bool:
        return client.get_client_id() == self.row.client_id


class ConfigurationEndpoint(ClientConfigurationEndpoint):
    """RFC 7592 §2: read (GET), replace (PUT) and delete (DELETE) at ``/register/<client_id>``."""

    def authenticate_token(self, request: OAuth2Request) -> RegistrationAccess:
        token = _bearer(request)
        row = client_repo.get_client_by_registration_token(uow.session(), token) if token else None
        if token is None or row is None or row.client_id != (flask_request.view_args or {}).get("client_id"):
            # RFC 7592 §2: an invalid registration access token (or one for another client, which
            # must not learn whether that client exists) is an RFC 6750 error.
            raise InvalidTokenError(description="The registration access token is invalid.", realm=REALM)
        return RegistrationAccess(row, token)

    def authenticate_client(self, request: OAuth2Request) -> OAuthClient | None:
        row = client_repo.get_client(uow.session(), (flask_request.view_args or {}).get("client_id", ""))
        return None if row is None else OAuthClient(row, deps().settings.server.secret_key)

    def revoke_access_token(self, request: OAuth2Request, token: RegistrationAccess) -> None:
        """Unreachable: a valid registration access token always belongs to an existing client
        (deleting the client deletes the token's hash with it)."""

    def check_permission(self, client: OAuthClient, request: OAuth2Request) -> bool:
        return True

    def introspect_client(self, client: OAuthClient) -> dict[str, Any]:
        return client_metadata(client.row)

    def generate_client_registration_info(self, client: OAuthClient, request: OAuth2Request) -> dict[str, Any]:
        body = _registration_body(client.row, request.credential.token, getattr(request, "new_secret", None))
        return {
            k: v
            for k, v in body.items()
            if k in ("registration_access_token", "registration_client_uri", "client_secret")
        }

    def extract_client_metadata(self, request: OAuth2Request) -> dict[str, Any]:
        request.spec = _parse(spec_of(request.client.row))
        return {}

    def update_client(
        self, client: OAuthClient, client_metadata: dict[str, Any], request: OAuth2Request
    ) -> OAuthClient:
        actor = f"registration:{client.row.client_id}"
        request.new_secret = usecases.clients().update(client.row, request.spec, actor=actor)
        return client

    def delete_client(self, client: OAuthClient, request: OAuth2Request) -> None:
        usecases.clients().delete(client.row, actor=f"registration:{client.row.client_id}")

    def get_server_metadata(self) -> None:
        return None


def _registration_body(row: Client, registration_token: str, secret: str | None) -> dict[str, Any]:

    body = client_metadata(row)
    if secret:
        body["client_secret"] = secret
    body["registration_access_token"] = registration_token
    body["registration_client_uri"] = f"{deps().settings.server.issuer}/register/{row.client_id}"
    return body
