"""Client registration rules: the one place used by the CLI, RFC 7591 ``/register`` and the admin API.

``spec_from_metadata`` turns RFC 7591 JSON into a ``ClientSpec`` (type checks, naming the
field); ``ClientSpec.validate`` enforces the rules; ``build_client`` / ``apply_spec`` write a
``Client`` row; ``client_metadata`` reads one back as RFC 7591 metadata.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar, cast
from urllib.parse import SplitResult, urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet, KeySetSerialization

from idp.core.errors import ClientMetadataError
from idp.core.outbound import policy as outbound_policy
from idp.core.outbound.policy import AllowList, OutboundError, target_of
from idp.core.tokens import keyed_hash, new_id, new_token
from idp.domain.factors.policy import ACR_VALUES_SUPPORTED, MFA_ACR
from idp.storage.sql.models import Client

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
RESPONSE_TYPES = ("code",)
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
#: ID-token algorithms a client may register: both Ed25519 labels (see ``idp.domain.keys.material``).
ALGS = ("RS256", "ES256", "EdDSA", "Ed25519")
#: Algorithms accepted for ``private_key_jwt`` client assertions.
ASSERTION_ALGS = ("RS256", "ES256")
APPLICATION_TYPES = ("web", "native")
DEFAULT_SCOPE = "openid profile email offline_access"
#: Scopes an app team may ask for through /register (the provider's own).
SELF_SERVICE_SCOPES = ("openid", "profile", "email", "offline_access")
#: Scopes only the identity team can give (CLI, admin API); never through /register.
ADMIN_SCOPE = "idp:admin"
#: The console's scope (issue 20): its access tokens speak for a signed-in person, whose console roles
#: (``idp.domain.staff``) decide what the admin API lets them do. Only ``idp clients create-console``.
CONSOLE_SCOPE = "idp:console"
INFO_URIS = ("client_uri", "logo_uri", "tos_uri", "policy_uri")
INFO_STRINGS = ("software_id", "software_version")
MAX_URIS = 20
MAX_URI_LENGTH = 2000
#: A serialized origin is short (RFC 6454 §6.2); longer values are not origins.
MAX_ORIGIN_LENGTH = 300
DEFAULT_PORTS = {"http": 80, "https": 443}
#: A host name in an origin: what browsers send (IDNs as xn-- A-labels), or an IPv6 literal.
ORIGIN_HOST = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.?$")
ORIGIN_EXAMPLE = "scheme://host[:port] such as https://app.example.edu"
#: RFC 6749 §3.3 scope-token characters.
SCOPE_TOKEN = re.compile(r"^[\x21\x23-\x5B\x5D-\x7E]{1,100}$")
#: RFC 3986 §3.1 scheme.
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
#: No allow-list: what ``validate`` assumes unless the caller passes the operator's.
DENY_ALL = AllowList()
#: Why a URL the provider itself calls is refused, in words for app teams (constant text, RFC 6749
#: §5.2 safe): one line per reason of ``idp.core.outbound.policy``.
SERVER_URI_MESSAGES = {
    outbound_policy.NOT_HTTPS: "must use https (plain http only to hosts the identity team allow-listed)",
    outbound_policy.CREDENTIALS: "must not contain a user name or password",
    outbound_policy.LOCAL_NAME: "must not point at localhost or an internal address",
    outbound_policy.INTERNAL: "must not point at localhost or an internal address",
    outbound_policy.NEVER: "must not point at localhost or an internal address",
    outbound_policy.ODD_NUMBER: "must write an IP address in its standard form",
}
SERVER_URI_DEFAULT = "must be an absolute https URL"

T = TypeVar("T")


def _filled(value: T | None) -> T:
    """A field that ``ClientSpec.__post_init__`` fills in when it is not given (never None after)."""
    if value is None:
        raise TypeError("ClientSpec.__post_init__ fills this field in")
    return value


@dataclass
class ClientSpec:
    """Everything a client is registered with (the rules hold on every surface; what an app team
    may not set at all is refused earlier, by ``spec_from_metadata(privileged=False)``)."""

    name: str
    redirect_uris: list[str] = field(default_factory=list)
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    grant_types: list[str] = field(default_factory=lambda: ["authorization_code", "refresh_token"])
    response_types: list[str] | None = None
    public: bool = False
    token_endpoint_auth_method: str | None = None
    trusted: bool = False
    scope: str = DEFAULT_SCOPE
    id_token_signed_response_alg: str = "RS256"
    application_type: str = "web"
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    backchannel_logout_uri: str | None = None
    #: Browser origins allowed to call the token, userinfo, revocation and introspection endpoints;
    #: None = the default (``effective_cors_origins``). Normalized by ``validate``.
    allowed_cors_origins: list[str] | None = None
    info: dict[str, Any] = field(default_factory=dict)
    #: The authorization request must carry a PKCE challenge; None = the operator's default
    #: (``IDP_REQUIRE_PKCE_DEFAULT``); public clients always require it.
    require_pkce: bool | None = None
    #: ``acr`` values asked for when an authorization request has no ``acr_values`` (OpenID Connect
    #: Dynamic Registration §2); ``["urn:spom:acr:mfa"]`` requires a second factor. None or empty: none.
    default_acr_values: list[str] | None = None

    def __post_init__(self) -> None:
        if self.token_endpoint_auth_method is None:
            self.token_endpoint_auth_method = "none" if self.public else "client_secret_basic"
        self.public = self.token_endpoint_auth_method == "none"
        if self.response_types is None:
            self.response_types = ["code"] if "authorization_code" in self.grant_types else []

    def validate(self, allow: AllowList = DENY_ALL) -> None:
        """Raise ``ClientMetadataError`` naming the first field that breaks a rule. ``allow`` is the
        operator's ``IDP_OUTBOUND_ALLOW``, for the URLs the provider itself calls."""
        if not self.name.strip() or len(self.name) > 200:
            raise ClientMetadataError("client_name", "must be 1 to 200 characters")
        self._validate_grants()
        self._validate_auth_method(allow)
        self._validate_uris(allow)
        if self.id_token_signed_response_alg not in ALGS:
            raise ClientMetadataError("id_token_signed_response_alg", f"must be one of {', '.join(ALGS)}")
        self._validate_scope()
        if self.public and self.require_pkce is False:
            raise ClientMetadataError("require_pkce", "a public client must use PKCE (RFC 9700 section 2.1.1)")
        if self.allowed_cors_origins is not None:
            if len(self.allowed_cors_origins) > MAX_URIS:
                raise ClientMetadataError("allowed_cors_origins", f"at most {MAX_URIS} origins")
            self.allowed_cors_origins = list(dict.fromkeys(normalize_origin(o) for o in self.allowed_cors_origins))
        self.default_acr_values = check_acr_values(self.default_acr_values)

    def _validate_grants(self) -> None:
        if not self.grant_types:
            raise ClientMetadataError("grant_types", "at least one grant type is required")
        for g in self.grant_types:
            if g not in GRANT_TYPES:
                raise ClientMetadataError("grant_types", f"each must be one of {', '.join(GRANT_TYPES)}")
        if self.public and "client_credentials" in self.grant_types:
            raise ClientMetadataError("grant_types", "a public client cannot use client_credentials")
        if "refresh_token" in self.grant_types and "authorization_code" not in self.grant_types:
            raise ClientMetadataError("grant_types", "refresh_token needs authorization_code")
        response_types = _filled(self.response_types)
        for r in response_types:
            if r not in RESPONSE_TYPES:
                raise ClientMetadataError("response_types", f"each must be one of {', '.join(RESPONSE_TYPES)}")
        # RFC 7591 §2.1: grant_types and response_types must agree.
        if ("code" in response_types) != ("authorization_code" in self.grant_types):
            raise ClientMetadataError("response_types", "'code' goes with the authorization_code grant type")

    def _validate_auth_method(self, allow: AllowList) -> None:
        method = self.token_endpoint_auth_method
        if method not in AUTH_METHODS:
            raise ClientMetadataError("token_endpoint_auth_method", f"must be one of {', '.join(AUTH_METHODS)}")
        if self.jwks is not None and self.jwks_uri is not None:
            raise ClientMetadataError("jwks", "jwks and jwks_uri must not both be present (RFC 7591 section 2)")
        if self.jwks is not None:
            check_jwks(self.jwks)
        if self.jwks_uri is not None:
            check_server_uri(self.jwks_uri, "jwks_uri", allow)
        if method == "private_key_jwt" and self.jwks is None and self.jwks_uri is None:
            raise ClientMetadataError("jwks", "private_key_jwt needs the client's public keys in jwks or jwks_uri")

    def _validate_uris(self, allow: AllowList) -> None:
        if "authorization_code" in self.grant_types and not self.redirect_uris:
            raise ClientMetadataError(
                "redirect_uris", "required for the authorization_code grant", "invalid_redirect_uri"
            )
        for name in ("redirect_uris", "post_logout_redirect_uris"):
            uris = getattr(self, name)
            if len(uris) > MAX_URIS:
                raise ClientMetadataError(name, f"at most {MAX_URIS} URIs", _uri_error(name))
            for uri in uris:
                check_redirect_uri(uri, name, self.application_type)
        if self.backchannel_logout_uri is not None:
            check_server_uri(self.backchannel_logout_uri, "backchannel_logout_uri", allow)
        if self.application_type not in APPLICATION_TYPES:
            raise ClientMetadataError("application_type", "must be 'web' or 'native'")
        for name in INFO_URIS:
            if name in self.info:
                check_https_uri(self.info[name], name)

    def _validate_scope(self) -> None:
        tokens = self.scope.split()
        # A service client (client_credentials only) may need no scope at all; a sign-in client needs one.
        if not tokens and "authorization_code" in self.grant_types:
            raise ClientMetadataError("scope", "at least one scope is required for the authorization_code grant")
        for token in tokens:
            if not SCOPE_TOKEN.match(token):
                raise ClientMetadataError(
                    "scope", "each scope token must be 1 to 100 printable ASCII characters, no quote or backslash"
                )
        if ADMIN_SCOPE in tokens and self.grant_types != ["client_credentials"]:
            raise ClientMetadataError("scope", f"{ADMIN_SCOPE} is only for client_credentials admin clients")
        if CONSOLE_SCOPE in tokens and (self.public or not self.trusted or "client_credentials" in self.grant_types):
            raise ClientMetadataError("scope", f"{CONSOLE_SCOPE} is only for the console (idp clients create-console)")


def check_acr_values(values: object) -> list[str] | None:
    """``default_acr_values``: a list of the ``acr`` values this provider issues (``ACR_VALUES_SUPPORTED``),
    without repeats; an empty list or None means no default."""
    if values is None:
        return None
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ClientMetadataError("default_acr_values", "must be an array of strings")
    if any(v not in ACR_VALUES_SUPPORTED for v in values):
        raise ClientMetadataError(
            "default_acr_values", f"each value must be one of {', '.join(ACR_VALUES_SUPPORTED)} (acr_values_supported)"
        )
    return list(dict.fromkeys(values)) or None


def _uri_error(field_name: str) -> str:
    return "invalid_redirect_uri" if field_name == "redirect_uris" else "invalid_client_metadata"


def _parse_uri(uri: object, field_name: str, error: str) -> SplitResult:
    if not isinstance(uri, str) or not uri or len(uri) > MAX_URI_LENGTH:
        raise ClientMetadataError(field_name, f"must be URI strings of at most {MAX_URI_LENGTH} characters", error)
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in uri):
        raise ClientMetadataError(field_name, "spaces and control characters are not allowed", error)
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        raise ClientMetadataError(field_name, "not a URI", error) from None
    if not parts.scheme or not SCHEME.match(parts.scheme):
        raise ClientMetadataError(field_name, "must be an absolute URI", error)
    if "#" in uri:
        raise ClientMetadataError(field_name, "must not contain a fragment", error)
    if "*" in uri:
        raise ClientMetadataError(field_name, "must not contain wildcards", error)
    return parts


def check_redirect_uri(uri: object, field_name: str, application_type: str = "web") -> None:
    """Absolute, no fragment, no wildcards; https unless loopback IP literal (RFC 8252 §7.3,
    any port); private-use reverse-domain schemes (RFC 8252 §7.1) for native apps only."""
    error = _uri_error(field_name)
    parts = _parse_uri(uri, field_name, error)
    if parts.scheme in ("http", "https"):
        if not parts.hostname:
            raise ClientMetadataError(field_name, "must be an absolute URI", error)
        if parts.scheme == "http" and not is_loopback_ip(parts.hostname):
            raise ClientMetadataError(field_name, "must use https (http only for 127.0.0.1 or [::1])", error)
        return
    if "." not in parts.scheme:
        raise ClientMetadataError(
            field_name, "use https or a reverse-domain private-use scheme such as edu.example.app:/callback", error
        )
    if application_type != "native":
        raise ClientMetadataError(field_name, "private-use schemes need application_type 'native'", error)


def check_server_uri(uri: object, field_name: str, allow: AllowList = DENY_ALL) -> None:
    """A URL the provider itself calls (``backchannel_logout_uri``, ``jwks_uri``): the outbound
    policy's checks that need no DNS (https unless allow-listed; no internal IP literal, no
    localhost name unless allow-listed; no credentials), plus no fragment (Back-Channel Logout §2.2,
    RFC 7591 §2). Host names are accepted here; their addresses are checked when the provider
    connects. Every description is constant text: the URL is never echoed."""
    if not isinstance(uri, str) or not uri or len(uri) > MAX_URI_LENGTH:
        raise ClientMetadataError(field_name, f"must be a URL of at most {MAX_URI_LENGTH} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in uri):
        raise ClientMetadataError(field_name, "must not contain spaces or control characters")
    if "#" in uri:
        raise ClientMetadataError(field_name, "must not contain a fragment")
    try:
        target_of(uri, allow)
    except OutboundError as exc:
        raise ClientMetadataError(field_name, SERVER_URI_MESSAGES.get(exc.reason, SERVER_URI_DEFAULT)) from None


def check_https_uri(uri: object, field_name: str) -> None:
    parts = _parse_uri(uri, field_name, "invalid_client_metadata")
    if parts.scheme != "https" or not parts.hostname:
        raise ClientMetadataError(field_name, "must be an https URL")


def check_jwks(value: dict[str, Any]) -> None:
    """A JWK Set of public signing keys only (RFC 7591 §2: no private members)."""
    keys = value.get("keys") if isinstance(value, dict) else None
    if not isinstance(keys, list) or not keys or len(keys) > 10:
        raise ClientMetadataError("jwks", "must be a JWK Set (an object with a keys array) of 1 to 10 keys")
    for key in keys:
        if not isinstance(key, dict) or "d" in key or key.get("kty") not in ("RSA", "EC"):
            raise ClientMetadataError("jwks", "must hold public RSA or EC keys only")
    try:
        # The shape was checked above; joserfc checks the members.
        KeySet.import_key_set(cast(KeySetSerialization, value))
    except (JoseError, ValueError, TypeError, KeyError):
        raise ClientMetadataError("jwks", "is not a valid JWK Set") from None


def normalize_origin(value: object) -> str:
    """An origin as browsers send it in ``Origin`` (RFC 6454 §6.2): ``scheme://host[:port]``, https or
    loopback-IP http, lower-cased, without the scheme's default port; anything else is refused with
    constant text (the value is never echoed)."""
    name = "allowed_cors_origins"
    if not isinstance(value, str) or not value or len(value) > MAX_ORIGIN_LENGTH:
        raise ClientMetadataError(name, f"each must be an origin of at most {MAX_ORIGIN_LENGTH} characters")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ClientMetadataError(name, "spaces and control characters are not allowed")
    if "*" in value:
        raise ClientMetadataError(name, "wildcards are not allowed: list each origin")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ClientMetadataError(name, f"each must be an origin, {ORIGIN_EXAMPLE}") from None
    if parts.scheme not in DEFAULT_PORTS or not parts.netloc or not value.lower().startswith(parts.scheme + "://"):
        raise ClientMetadataError(name, f"each must be an http(s) origin, {ORIGIN_EXAMPLE}")
    if "@" in parts.netloc:
        raise ClientMetadataError(name, "must not contain a user name or password")
    if parts.path or parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ClientMetadataError(
            name, f"an origin has no path (not even a trailing /), query or fragment: {ORIGIN_EXAMPLE}"
        )
    host = parts.hostname or ""
    literal = host.startswith("[") or ":" in host
    if not literal and not ORIGIN_HOST.match(host):
        raise ClientMetadataError(name, "the host must be a DNS name in ASCII (xn-- form for IDNs) or an IP address")
    if parts.scheme == "http" and not is_loopback_ip(host):
        raise ClientMetadataError(name, "must use https (http only for 127.0.0.1 or [::1])")
    shown = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS[parts.scheme]:
        shown += f":{port}"
    return f"{parts.scheme}://{shown}"


def effective_cors_origins(public: bool, redirect_uris: list[str], allowed: list[str] | None) -> list[str]:
    """The origins a client's browser app may call from: the registered list, or by default, for a
    public client (a browser or native app, no secret), the origins of its http(s) redirect URIs,
    as Keycloak's "+" web origin does. A confidential client gets none unless listed: its secret
    does not belong in a browser."""
    if allowed is not None:
        return list(allowed)
    if not public:
        return []
    found: dict[str, None] = {}
    for uri in redirect_uris:
        parts = urlsplit(uri)
        if parts.scheme in DEFAULT_PORTS and parts.hostname:
            try:
                found[normalize_origin(f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}")] = None
            except (ClientMetadataError, ValueError):
                continue  # an unusual redirect URI (a host an origin cannot have) gives no default
    return list(found)


def is_loopback_ip(host: str) -> bool:
    """RFC 8252 §8.3: loopback IP literals, not ``localhost`` (which DNS or hosts files may remap)."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- RFC 7591 JSON <-> ClientSpec ---------------------------------------------------------------

#: Members read from RFC 7591 metadata and their expected JSON types.
_LISTS = (
    "redirect_uris",
    "post_logout_redirect_uris",
    "grant_types",
    "response_types",
    "contacts",
    "allowed_cors_origins",
)
_STRINGS = (
    "client_name",
    "token_endpoint_auth_method",
    "scope",
    "id_token_signed_response_alg",
    "application_type",
    "jwks_uri",
    "backchannel_logout_uri",
    *INFO_URIS,
    *INFO_STRINGS,
)
#: Members a client may never set about itself (RFC 7592 §2.2 and our own policy).
_REFUSED = ("trusted",)


def spec_from_metadata(
    data: object, *, privileged: bool, defaults: ClientSpec | None = None, allow: AllowList = DENY_ALL
) -> ClientSpec:
    """Parse RFC 7591 client metadata. Unknown members are ignored (RFC 7591 §2); members with the
    wrong JSON type are refused, naming the member.

    ``privileged`` is the identity team (CLI, admin API). App teams (``/register``) can never set
    ``trusted`` and may ask only for the provider's own scopes, plus those the identity team
    already gave the client (``defaults``, the client as stored, on an RFC 7592 update, whose
    ``trusted`` flag is kept as it is). ``allow`` is the operator's ``IDP_OUTBOUND_ALLOW``."""
    if not isinstance(data, dict):
        raise ClientMetadataError("request", "the body must be a JSON object of client metadata")
    if "allowed_cors_origins" in data and data["allowed_cors_origins"] is None:
        data = {k: v for k, v in data.items() if k != "allowed_cors_origins"}  # null: back to the default
    # Omitted: kept as stored on an update (like require_pkce); null or []: no default acr values.
    default_acr_values = data.get("default_acr_values", defaults.default_acr_values if defaults else None)
    for name in _REFUSED:
        if name in data and not privileged:
            raise ClientMetadataError(name, "only the identity team can set this")
    for name in _LISTS:
        if name in data and (not isinstance(data[name], list) or not all(isinstance(v, str) for v in data[name])):
            raise ClientMetadataError(name, "must be an array of strings", _uri_error(name))
    for name in _STRINGS:
        if name in data and not isinstance(data[name], str):
            raise ClientMetadataError(name, "must be a string")
    if "jwks" in data and not isinstance(data["jwks"], dict):
        raise ClientMetadataError("jwks", "must be a JSON object (a JWK Set)")
    for name in ("trusted", "require_pkce"):
        if name in data and not isinstance(data[name], bool):
            raise ClientMetadataError(name, "must be true or false")
    # RFC 7591 §2: grant_types defaults to authorization_code, response_types to code.
    grant_types = data.get("grant_types", ["authorization_code"])
    auth_method = data.get("token_endpoint_auth_method", "client_secret_basic")
    # Omitted: kept as stored on an update, unless the client becomes public (then always on).
    require_pkce = data.get("require_pkce", defaults.require_pkce if defaults and auth_method != "none" else None)
    info = {k: data[k] for k in INFO_URIS + INFO_STRINGS + ("contacts",) if k in data}
    spec = ClientSpec(
        name=data.get("client_name", "") or "",
        redirect_uris=list(data.get("redirect_uris", [])),
        post_logout_redirect_uris=list(data.get("post_logout_redirect_uris", [])),
        grant_types=list(dict.fromkeys(grant_types)),
        response_types=list(dict.fromkeys(data["response_types"])) if "response_types" in data else None,
        token_endpoint_auth_method=auth_method,
        trusted=data.get("trusted", defaults.trusted if defaults else False),
        scope=data.get("scope", DEFAULT_SCOPE),
        id_token_signed_response_alg=data.get("id_token_signed_response_alg", "RS256"),
        application_type=data.get("application_type", "web"),
        jwks=data.get("jwks"),
        jwks_uri=data.get("jwks_uri"),
        backchannel_logout_uri=data.get("backchannel_logout_uri"),
        allowed_cors_origins=list(data["allowed_cors_origins"]) if "allowed_cors_origins" in data else None,
        info=info,
        require_pkce=require_pkce,
        default_acr_values=default_acr_values,
    )
    if not privileged:
        kept = set(defaults.scope.split()) if defaults else set()
        for token in spec.scope.split():
            if token not in SELF_SERVICE_SCOPES and token not in kept:
                raise ClientMetadataError("scope", f"only these scopes are available: {' '.join(SELF_SERVICE_SCOPES)}")
    if len(info.get("contacts", [])) > 10 or any(len(c) > 254 for c in info.get("contacts", [])):
        raise ClientMetadataError("contacts", "at most 10 addresses of at most 254 characters")
    for name in INFO_STRINGS:
        if len(info.get(name, "")) > 200:
            raise ClientMetadataError(name, "at most 200 characters")
    spec.validate(allow)
    return spec


def merge_metadata(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """A partial update (admin PATCH, ``idp clients update``): the stored metadata (``editable_metadata``)
    with ``changes`` over it. ``jwks`` and ``jwks_uri`` are alternatives (RFC 7591 §2): giving one drops
    the other; a client made public drops its stored ``require_pkce`` (public clients always require PKCE)."""
    current = dict(current)
    for given, other in (("jwks", "jwks_uri"), ("jwks_uri", "jwks")):
        if given in changes and other not in changes:
            current.pop(other, None)
    if changes.get("token_endpoint_auth_method") == "none":
        current.pop("require_pkce", None)
    merged = {**current, **changes}
    # null removes a member (as in RFC 7396 JSON Merge Patch), e.g. the back-channel logout URI; the
    # members whose null has a meaning of its own (back to the default, no default) keep it.
    return {k: v for k, v in merged.items() if v is not None or k in _NULL_MEANS}


#: Members for which ``spec_from_metadata`` reads null itself.
_NULL_MEANS = ("allowed_cors_origins", "default_acr_values")


def client_metadata(row: Client) -> dict[str, Any]:
    """A client's registered metadata as RFC 7591 §3.2.1 returns it (no secrets)."""
    body: dict[str, Any] = {
        "client_id": row.client_id,
        "client_name": row.name,
        "redirect_uris": list(row.redirect_uris),
        "post_logout_redirect_uris": list(row.post_logout_redirect_uris),
        "grant_types": list(row.grant_types),
        "response_types": list(row.response_types),
        "token_endpoint_auth_method": row.token_endpoint_auth_method,
        "scope": row.scope,
        "id_token_signed_response_alg": row.id_token_signed_response_alg,
        "application_type": row.application_type or "web",
        "require_pkce": row.require_pkce,
        "client_id_issued_at": int(row.created_at),
        # RFC 7591 §3.2.1: the values in force, defaults included.
        "allowed_cors_origins": effective_cors_origins(row.public, list(row.redirect_uris), row.allowed_cors_origins),
    }
    if not row.public and row.token_endpoint_auth_method in SECRET_METHODS:
        body["client_secret_expires_at"] = 0  # RFC 7591 §3.2.1: 0 = does not expire
    for name in ("jwks", "jwks_uri", "backchannel_logout_uri", "default_acr_values"):
        value = getattr(row, name, None)
        if value is not None:
            body[name] = value
    body.update(row.info or {})
    return body


def editable_metadata(row: Client) -> dict:
    """``client_metadata`` as a base for a partial update (CLI ``update``, admin PATCH): a default
    CORS list stays a default (it keeps following the redirect URIs) rather than being written out."""
    body = client_metadata(row)
    if row.allowed_cors_origins is None:
        del body["allowed_cors_origins"]
    return body


# -- rows ---------------------------------------------------------------------------------------


def build_client(
    spec: ClientSpec,
    *,
    secret_key: str,
    now: float,
    created_by: str = "",
    team: str | None = None,
    allow: AllowList = DENY_ALL,
    require_pkce_default: bool = True,
) -> tuple[Client, str | None]:
    """A new ``Client`` row and its secret (None unless the client authenticates with a secret);
    ``require_pkce_default`` applies when the spec leaves ``require_pkce`` open."""
    spec.validate(allow)
    row = Client(client_id=new_id(), active=True, created_at=now, created_by=created_by[:200], team=team)
    row.require_pkce = require_pkce_default
    secret = apply_spec(row, spec, secret_key=secret_key, now=now, allow=allow)
    return row, secret


def apply_spec(
    row: Client, spec: ClientSpec, *, secret_key: str, now: float, allow: AllowList = DENY_ALL
) -> str | None:
    """Write a validated spec onto a row. Returns a new secret when the client now needs one and had
    none (e.g. it switched from ``private_key_jwt`` to ``client_secret_basic``); a client that stops
    using a secret loses it. ``require_pkce`` left open keeps the row's value (a new row's default)."""
    spec.validate(allow)
    if spec.require_pkce is not None:
        row.require_pkce = spec.require_pkce
    row.require_pkce = bool(row.require_pkce or spec.public)
    row.name, row.public, row.trusted = spec.name.strip(), spec.public, spec.trusted
    row.token_endpoint_auth_method = _filled(spec.token_endpoint_auth_method)
    row.redirect_uris, row.post_logout_redirect_uris = list(spec.redirect_uris), list(spec.post_logout_redirect_uris)
    row.grant_types, row.response_types = list(spec.grant_types), list(_filled(spec.response_types))
    row.scope = " ".join(dict.fromkeys(spec.scope.split()))
    row.id_token_signed_response_alg, row.application_type = spec.id_token_signed_response_alg, spec.application_type
    row.jwks, row.jwks_uri, row.info = spec.jwks, spec.jwks_uri, dict(spec.info)
    row.backchannel_logout_uri = spec.backchannel_logout_uri
    row.allowed_cors_origins = None if spec.allowed_cors_origins is None else list(spec.allowed_cors_origins)
    row.default_acr_values = list(spec.default_acr_values) if spec.default_acr_values else None
    if row.token_endpoint_auth_method not in SECRET_METHODS:
        row.secret_hash = row.previous_secret_hash = row.previous_secret_expires_at = None
        return None
    if row.secret_hash:
        return None
    secret = new_token()
    row.secret_hash, row.secret_issued_at = keyed_hash(secret, secret_key), now
    return secret


def spec_of(row: Client) -> ClientSpec:
    """The spec a row was built from (for partial updates)."""
    return ClientSpec(
        name=row.name,
        redirect_uris=list(row.redirect_uris),
        post_logout_redirect_uris=list(row.post_logout_redirect_uris),
        grant_types=list(row.grant_types),
        response_types=list(row.response_types),
        token_endpoint_auth_method=row.token_endpoint_auth_method,
        trusted=row.trusted,
        scope=row.scope,
        id_token_signed_response_alg=row.id_token_signed_response_alg,
        application_type=row.application_type or "web",
        jwks=row.jwks,
        jwks_uri=row.jwks_uri,
        backchannel_logout_uri=row.backchannel_logout_uri,
        allowed_cors_origins=None if row.allowed_cors_origins is None else list(row.allowed_cors_origins),
        info=dict(row.info or {}),
        require_pkce=row.require_pkce,
        default_acr_values=list(row.default_acr_values) if row.default_acr_values else None,
    )


SPEC_FIELDS = tuple(f.name for f in fields(ClientSpec))


def console_spec(base_url: str) -> ClientSpec:
    """The admin console as a relying party (``clients/console``, served at ``base_url``): a confidential,
    first-party client whose every sign-in needs a second factor and whose refresh tokens end with the
    browser session (no ``offline_access``)."""
    base = base_url.rstrip("/")
    return ClientSpec(
        name="SPOM Login console",
        redirect_uris=[base + "/callback"],
        post_logout_redirect_uris=[base + "/signed-out"],
        backchannel_logout_uri=base + "/backchannel-logout",
        scope=f"openid profile {CONSOLE_SCOPE}",
        trusted=True,
        default_acr_values=[MFA_ACR],
    )
