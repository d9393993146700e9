"""``idp clients …``: the identity team registers and maintains relying parties and service clients.

Every change is audited with the actor ``cli:<os user>``. Secrets and tokens are printed once.
"""

from __future__ import annotations

import getpass
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from idp.cli import CLIError, Context, main
from idp.core.errors import ClientOperationError
from idp.domain.clients.rules import ALGS
from idp.domain.factors.policy import ACR_VALUES_SUPPORTED, MFA_ACR

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from idp.core.outbound import AllowList
    from idp.storage.sql.models import Client

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

DURATION = re.compile(r"^(\d{1,9})([smhd]?)$")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str, option: str) -> int:
    match = DURATION.match(value.strip().lower())
    if not match:
        raise CLIError(f"{option}: expected a duration such as 3600s, 90m, 24h or 30d, got {value!r}")
    return int(match.group(1)) * UNITS[match.group(2)]


def actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@contextmanager
def session(obj: Context) -> Iterator[tuple[Session, float]]:
    """The command's unit of work (committed when its block ends); yields (db, now)."""
    with obj.transaction() as db:
        yield db, obj.deps.now()


def load(db: Session, client_id: str) -> Client:
    from idp.storage.sql.clients import get_client

    row = get_client(db, client_id)
    if row is None:
        raise CLIError(f"there is no client {client_id!r}")
    return row


def emit(result: dict[str, Any], as_json: bool, lines: list[str]) -> None:
    click.echo(json.dumps(result) if as_json else "\n".join(lines))


def describe_lines(d: dict[str, Any]) -> list[str]:
    lines = [
        f"client_id:      {d['client_id']}",
        f"name:           {d['client_name']}",
        f"status:         {'enabled' if d['active'] else 'disabled'}{', trusted' if d['trusted'] else ''}",
        f"auth method:    {d['token_endpoint_auth_method']}",
        f"grant types:    {' '.join(d['grant_types'])}",
        f"scope:          {d['scope']}",
        f"require PKCE:   {'yes' if d['require_pkce'] else 'no'}",
        f"default acr:    {' '.join(d.get('default_acr_values') or []) or 'none'}"
        f"{' (second factor required)' if MFA_ACR in (d.get('default_acr_values') or []) else ''}",
    ]
    lines += [f"redirect_uri:   {u}" for u in d["redirect_uris"]]
    lines += [f"post_logout:    {u}" for u in d["post_logout_redirect_uris"]]
    lines += [f"cors_origin:    {o}" for o in d["allowed_cors_origins"]]
    if d.get("team"):
        lines.append(f"team:           {d['team']}")
    for s in d["secrets"]:
        until = f"valid until {s['expires_at']}" if s["expires_at"] else "no expiry"
        lines.append(f"secret:         {s['state']} ({until})")
    lines.append(f"created:        {d['created_at']} by {d['created_by'] or 'unknown'}")
    return lines


def outbound_allow(obj: Context) -> AllowList:
    """The operator's ``IDP_OUTBOUND_ALLOW``, for the URLs the provider calls."""
    return obj.deps.outbound.allow


def fail_on_metadata(fn: Callable[[], T]) -> T:
    from idp.core.errors import ClientMetadataError

    try:
        return fn()
    except ClientMetadataError as exc:
        raise CLIError(str(exc)) from None


@main.group("clients")
def clients_group() -> None:
    """Manage OIDC clients (relying parties and service clients)."""


def _metadata_options(fn: F) -> F:
    options = [
        click.option(
            "--redirect-uri",
            "redirect_uris",
            multiple=True,
            help="Registered redirect URI (repeatable; exact match). https, or http://127.0.0.1:PORT, "
            "or a reverse-domain scheme for --application-type native.",
        ),
        click.option(
            "--post-logout-redirect-uri",
            "post_logout_uris",
            multiple=True,
            help="Registered post-logout redirect URI (repeatable).",
        ),
        click.option(
            "--backchannel-logout-uri",
            default=None,
            help="Back-channel logout URL (a query string is kept; no fragment): https to a public host; "
            "plain http, and loopback or internal addresses, only when IDP_OUTBOUND_ALLOW lists them "
            "(e.g. 127.0.0.1/32 for development).",
        ),
        click.option(
            "--cors-origin",
            "cors_origins",
            multiple=True,
            help="Browser origin (scheme://host[:port], https or http://127.0.0.1:PORT) whose pages may call "
            "/token, /userinfo, /revoke and /introspect (repeatable; replaces the list). Default: a public "
            "client's redirect URI origins; none for a confidential client.",
        ),
        click.option(
            "--no-cors-origins",
            "no_cors_origins",
            is_flag=True,
            default=False,
            help="No browser origin at all (also none for a public client).",
        ),
        click.option(
            "--grant-type",
            "grant_types",
            multiple=True,
            type=click.Choice(["authorization_code", "refresh_token", "client_credentials"]),
            help="Allowed grant type (repeatable).",
        ),
        click.option(
            "--auth-method",
            type=click.Choice(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]),
            default=None,
            help="Token endpoint authentication; private_key_jwt needs --jwks-file or --jwks-uri.",
        ),
        click.option(
            "--jwks-file",
            type=click.Path(exists=True, dir_okay=False, path_type=Path),
            default=None,
            help="JSON file with the client's public JWK Set (private_key_jwt).",
        ),
        click.option(
            "--jwks-uri",
            default=None,
            help="URL of the client's public JWK Set (private_key_jwt): https (http only to a host "
            "allow-listed in IDP_OUTBOUND_ALLOW).",
        ),
        click.option(
            "--application-type",
            type=click.Choice(["web", "native"]),
            default=None,
            help="native allows private-use URI schemes such as edu.example.app:/callback "
            "(create assumes native when a redirect URI uses one).",
        ),
        click.option(
            "--scope",
            default=None,
            help='Space-separated scopes the client may request; "" for a client_credentials-only client '
            "that needs none.",
        ),
        click.option("--id-token-alg", type=click.Choice(ALGS), default=None, help="ID token signing algorithm."),
        click.option(
            "--require-pkce/--no-require-pkce",
            default=None,
            help="Whether authorization requests must carry a PKCE code_challenge (S256). New clients: "
            "IDP_REQUIRE_PKCE_DEFAULT (on unless the operator changed it); public clients always require it.",
        ),
        click.option(
            "--require-mfa/--no-require-mfa",
            default=None,
            help=f"Every sign-in to this client needs a second factor: sets default_acr_values to {MFA_ACR} "
            "(used when an authorization request has no acr_values). --no-require-mfa clears default_acr_values.",
        ),
        click.option(
            "--default-acr-values",
            default=None,
            metavar="VALUES",
            help=f"default_acr_values, space-separated, each one of {', '.join(ACR_VALUES_SUPPORTED)}; "
            '"" clears them. Excludes --require-mfa/--no-require-mfa.',
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _read_jwks(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise CLIError(f"--jwks-file: cannot read a JSON JWK Set ({exc.__class__.__name__})") from None


def _changes(
    redirect_uris: tuple[str, ...],
    post_logout_uris: tuple[str, ...],
    backchannel_logout_uri: str | None,
    cors_origins: tuple[str, ...],
    no_cors_origins: bool,
    grant_types: tuple[str, ...],
    auth_method: str | None,
    jwks_file: Path | None,
    jwks_uri: str | None,
    application_type: str | None,
    scope: str | None,
    id_token_alg: str | None,
    require_pkce: bool | None,
    require_mfa: bool | None,
    default_acr_values: str | None,
) -> dict[str, Any]:
    """Only the options given, as RFC 7591 metadata members (None: clear that member)."""
    changes: dict[str, Any] = {}
    if require_mfa is not None and default_acr_values is not None:
        raise CLIError("--default-acr-values and --require-mfa/--no-require-mfa exclude each other")
    if require_mfa is not None:
        changes["default_acr_values"] = [MFA_ACR] if require_mfa else []
    if default_acr_values is not None:
        changes["default_acr_values"] = default_acr_values.replace(",", " ").split()
    if redirect_uris:
        changes["redirect_uris"] = list(redirect_uris)
    if post_logout_uris:
        changes["post_logout_redirect_uris"] = list(post_logout_uris)
    if cors_origins and no_cors_origins:
        raise CLIError("--cors-origin and --no-cors-origins exclude each other")
    if cors_origins or no_cors_origins:
        changes["allowed_cors_origins"] = list(cors_origins)
    if grant_types:
        changes["grant_types"] = list(grant_types)
        changes["response_types"] = ["code"] if "authorization_code" in grant_types else []
    for name, value in (
        ("backchannel_logout_uri", backchannel_logout_uri),
        ("token_endpoint_auth_method", auth_method),
        ("jwks_uri", jwks_uri),
        ("application_type", application_type),
        ("scope", scope),
        ("id_token_signed_response_alg", id_token_alg),
        ("jwks", _read_jwks(jwks_file)),
        ("require_pkce", require_pkce),
    ):
        if value is not None:
            changes[name] = value
    if "jwks" in changes:
        changes["jwks_uri"] = None
    if "jwks_uri" in changes and changes["jwks_uri"] is not None:
        changes["jwks"] = None
    return changes


@clients_group.command("create")
@click.option("--name", required=True, help="Name shown to users on the consent page.")
@_metadata_options
@click.option("--public", is_flag=True, help="A public client (no secret; PKCE required). Same as --auth-method none.")
@click.option("--trusted", is_flag=True, help="First-party client: skip the consent page.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the issuer, the discovery URL, client_id, client_secret and the registered metadata as JSON.",
)
@click.pass_obj
def create_client(obj: Context, name: str, public: bool, trusted: bool, as_json: bool, **options: Any) -> None:
    """Register a client. The secret is printed once and stored only as a keyed hash.

    Defaults: grant types authorization_code and refresh_token, scope
    "openid profile email offline_access", client_secret_basic, RS256 ID tokens.
    """
    from idp.domain.clients.rules import DEFAULT_SCOPE, client_metadata, spec_from_metadata

    data = {
        "client_name": name,
        "trusted": trusted,
        "grant_types": ["authorization_code", "refresh_token"],
        "scope": DEFAULT_SCOPE,
        **_changes(**options),
    }
    data.setdefault("response_types", ["code"] if "authorization_code" in data["grant_types"] else [])
    if public:
        data["token_endpoint_auth_method"] = "none"
    private_scheme = any(not u.startswith(("https:", "http:")) for u in data.get("redirect_uris", []))
    if "application_type" not in data and private_scheme:
        data["application_type"] = "native"  # a private-use scheme means a native app
    data = {k: v for k, v in data.items() if v is not None}
    with session(obj) as (db, _now):
        spec = fail_on_metadata(lambda: spec_from_metadata(data, privileged=True, allow=outbound_allow(obj)))
        row, secret, _ = obj.clients(db).create(spec, actor=actor())
        metadata = client_metadata(row)
    issuer = obj.deps.settings.server.issuer
    discovery = f"{issuer}/.well-known/openid-configuration"
    # What an app team configures its library with, in one answer (RFC 7591 §3.2.1's shape plus the issuer).
    result = {
        "issuer": issuer,
        "discovery_url": discovery,
        **metadata,
        **({"client_secret": secret} if secret else {}),
    }
    lines = [f"issuer:        {issuer}", f"discovery:     {discovery}", f"client_id:     {row.client_id}"]
    if secret:
        lines.append(f"client_secret: {secret}   (shown once; store it now)")
    emit(result, as_json, lines)


@clients_group.command("create-admin")
@click.option("--name", required=True, help="Name of the automation that will call the admin API.")
@click.option("--json", "as_json", is_flag=True, help='Print {"client_id": …, "client_secret": …}.')
@click.pass_obj
def create_admin(obj: Context, name: str, as_json: bool) -> None:
    """Register an admin API client: client_credentials with the idp:admin scope.

    Get a token with POST /token (grant_type=client_credentials, scope=idp:admin) and call
    /admin/api/ with it. Guard the secret: it administers every client.
    """
    from idp.domain.clients.rules import ADMIN_SCOPE, ClientSpec

    with session(obj) as (db, _now):
        spec = ClientSpec(name=name, grant_types=["client_credentials"], scope=ADMIN_SCOPE)
        row, secret, _ = fail_on_metadata(lambda: obj.clients(db).create(spec, actor=actor()))
    emit(
        {"client_id": row.client_id, "client_secret": secret},
        as_json,
        [f"client_id:     {row.client_id}", f"client_secret: {secret}   (shown once; store it now)"],
    )


@clients_group.command("create-console")
@click.option("--base-url", required=True, help="The console's own address, e.g. https://console.example.edu.")
@click.option("--json", "as_json", is_flag=True, help='Print {"client_id": …, "client_secret": …}.')
@click.pass_obj
def create_console(obj: Context, base_url: str, as_json: bool) -> None:
    """Register the admin console (clients/console) served at BASE_URL: a trusted client with the
    idp:console scope, a second factor on every sign-in, back-channel logout at BASE_URL/backchannel-logout.

    Its access tokens act for the signed-in person; their console roles (idp users grant-role) decide
    what the admin API lets them do. Give the printed credentials to the console (CONSOLE_CLIENT_ID,
    CONSOLE_CLIENT_SECRET or CONSOLE_CLIENT_FILE)."""
    from idp.domain.clients.rules import console_spec

    with session(obj) as (db, _now):
        row, secret, _ = fail_on_metadata(lambda: obj.clients(db).create(console_spec(base_url), actor=actor()))
    emit(
        {"client_id": row.client_id, "client_secret": secret},
        as_json,
        [f"client_id:     {row.client_id}", f"client_secret: {secret}   (shown once; store it now)"],
    )


@clients_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of clients.")
@click.pass_obj
def list_clients(obj: Context, as_json: bool) -> None:
    """List every client (id, status, name)."""
    from idp.domain.clients import service as client_admin
    from idp.storage.sql.clients import list_clients as rows

    with session(obj) as (db, now):
        found = [client_admin.describe(r, now) for r in rows(db)]
    lines = [f"{d['client_id']}  {'enabled ' if d['active'] else 'disabled'}  {d['client_name']}" for d in found]
    if as_json:
        click.echo(json.dumps(found))
    else:
        click.echo("\n".join(lines) if lines else "no clients")


@clients_group.command("show")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True, help="Print the client as JSON.")
@click.pass_obj
def show_client(obj: Context, client_id: str, as_json: bool) -> None:
    """Show a client, including which secrets work now and until when."""
    from idp.domain.clients import service as client_admin

    with session(obj) as (db, now):
        d = client_admin.describe(load(db, client_id), now)
    emit(d, as_json, describe_lines(d))


@clients_group.command("update")
@click.argument("client_id")
@click.option("--name", default=None, help="New display name.")
@_metadata_options
@click.option("--trusted/--not-trusted", default=None, help="Skip (or show) the consent page.")
@click.option("--json", "as_json", is_flag=True, help="Print the updated client as JSON.")
@click.pass_obj
def update_client(
    obj: Context, client_id: str, name: str | None, trusted: bool | None, as_json: bool, **options: Any
) -> None:
    """Change a client. Repeatable options (--redirect-uri, …) replace the whole list."""
    from idp.domain.clients import service as client_admin
    from idp.domain.clients.rules import editable_metadata, merge_metadata, spec_from_metadata

    with session(obj) as (db, now):
        row = load(db, client_id)
        data = merge_metadata({**editable_metadata(row), "trusted": row.trusted}, _changes(**options))
        if name is not None:
            data["client_name"] = name
        if trusted is not None:
            data["trusted"] = trusted
        data = {k: v for k, v in data.items() if v is not None}
        spec = fail_on_metadata(lambda: spec_from_metadata(data, privileged=True, allow=outbound_allow(obj)))
        secret = obj.clients(db).update(row, spec, actor=actor())
        d = client_admin.describe(row, now)
    if secret:
        d["client_secret"] = secret
    emit(d, as_json, describe_lines(d) + ([f"client_secret:  {secret}   (new; shown once)"] if secret else []))


def _set_active(obj: Context, client_id: str, active: bool, as_json: bool) -> None:

    with session(obj) as (db, _now):
        row = load(db, client_id)
        obj.clients(db).set_active(row, active, actor=actor())
    emit(
        {"client_id": client_id, "active": active},
        as_json,
        [f"client {client_id} {'enabled' if active else 'disabled'}"],
    )


@clients_group.command("disable")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True, help='Print {"client_id": …, "active": false}.')
@click.pass_obj
def disable_client(obj: Context, client_id: str, as_json: bool) -> None:
    """Disable a client: it cannot authenticate and its tokens are refused until enabled again."""
    _set_active(obj, client_id, False, as_json)


@clients_group.command("enable")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True, help='Print {"client_id": …, "active": true}.')
@click.pass_obj
def enable_client(obj: Context, client_id: str, as_json: bool) -> None:
    """Enable a disabled client."""
    _set_active(obj, client_id, True, as_json)


@clients_group.command("delete")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True, help='Print {"client_id": …, "deleted": true}.')
@click.pass_obj
def delete_client(obj: Context, client_id: str, as_json: bool) -> None:
    """Delete a client and revoke all its tokens (refresh tokens, grants, access tokens)."""

    with session(obj) as (db, _now):
        obj.clients(db).delete(load(db, client_id), actor=actor())
    emit({"client_id": client_id, "deleted": True}, as_json, [f"client {client_id} deleted; its tokens are revoked"])


@clients_group.command("rotate-secret")
@click.argument("client_id")
@click.option(
    "--grace", default="24h", show_default=True, help="How long the old secret keeps working (e.g. 0, 90m, 24h, 7d)."
)
@click.option("--json", "as_json", is_flag=True, help='Print {"client_id", "client_secret", "secrets"}.')
@click.pass_obj
def rotate_secret(obj: Context, client_id: str, grace: str, as_json: bool) -> None:
    """Issue a new secret (printed once); the old one works until the grace period ends."""
    from idp.domain.clients import service as client_admin

    seconds = parse_duration(grace, "--grace")
    with session(obj) as (db, now):
        row = load(db, client_id)
        try:
            secret = obj.clients(db).rotate_secret(row, grace=seconds, actor=actor())
        except ClientOperationError as exc:
            raise CLIError(str(exc)) from None
        secrets = client_admin.secrets_of(row, now)
    lines = [f"client_secret: {secret}   (shown once; store it now)"]
    lines += [f"{s['state']:9} valid until {s['expires_at']}" for s in secrets if s["expires_at"]]
    emit({"client_id": client_id, "client_secret": secret, "secrets": secrets}, as_json, lines)


@clients_group.command("issue-registration-token")
@click.option("--team", required=True, help="The app team the token is for (recorded on its clients).")
@click.option("--expires", default="30d", show_default=True, help="Lifetime, e.g. 12h or 30d.")
@click.option(
    "--max-clients",
    type=click.IntRange(min=1),
    default=None,
    help="How many clients the token may register (default: no limit).",
)
@click.option("--json", "as_json", is_flag=True, help='Print {"token": …, "expires_at": …}.')
@click.pass_obj
def issue_registration_token(obj: Context, team: str, expires: str, max_clients: int | None, as_json: bool) -> None:
    """Issue an RFC 7591 initial access token for POST /register. It is printed once."""
    from idp.domain.clients import service as client_admin

    seconds = parse_duration(expires, "--expires")
    with session(obj) as (db, _now):
        try:
            row, token = obj.clients(db).issue_registration_token(
                team=team, expires_in=seconds, max_clients=max_clients, actor=actor()
            )
        except ClientOperationError as exc:
            raise CLIError(str(exc)) from None
    expires_at = client_admin.iso(row.expires_at)
    emit(
        {"token": token, "expires_at": expires_at},
        as_json,
        [
            f"token:      {token}   (shown once; give it to {row.team})",
            f"expires_at: {expires_at}",
            f"max_clients: {max_clients if max_clients else 'no limit'}",
        ],
    )
