"""``idp clients …``: register relying parties and service clients."""

from __future__ import annotations

import json

import click

from ..registration import ALGS
from . import CLIError, main


@main.group("clients")
def clients_group():
    """Manage OIDC clients."""


@clients_group.command("create")
@click.option("--name", required=True, help="Name shown to users on the consent page.")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Registered redirect URI (repeatable).")
@click.option("--post-logout-redirect-uri", "post_logout_uris", multiple=True,
              help="Registered post-logout redirect URI (repeatable).")
@click.option("--grant-type", "grant_types", multiple=True,
              type=click.Choice(["authorization_code", "refresh_token", "client_credentials"]),
              help="Allowed grant type (repeatable). Default: authorization_code and refresh_token.")
@click.option("--public", is_flag=True, help="A public client (no secret; PKCE required).")
@click.option("--trusted", is_flag=True, help="First-party client: skip the consent page.")
@click.option("--scope", default="openid profile email offline_access", show_default=True,
              help="Space-separated scopes the client may request.")
@click.option("--id-token-alg", type=click.Choice(ALGS), default="RS256", show_default=True,
              help="ID token signing algorithm.")
@click.option("--backchannel-logout-uri", default=None,
              help="Where the provider POSTs logout tokens when a session this client holds ends.")
@click.option("--json", "as_json", is_flag=True, help='Print {"client_id": …, "client_secret": …}.')
@click.pass_obj
def create_client(obj, name, redirect_uris, post_logout_uris, grant_types, public, trusted, scope, id_token_alg,
                  backchannel_logout_uri, as_json):
    """Register a client. The secret is printed once and stored only as a keyed hash."""
    from ..registration import ClientMetadataError, ClientSpec, build_client

    spec = ClientSpec(name=name, redirect_uris=list(redirect_uris), post_logout_redirect_uris=list(post_logout_uris),
                      grant_types=list(grant_types) or ["authorization_code", "refresh_token"], public=public,
                      trusted=trusted, scope=scope, id_token_signed_response_alg=id_token_alg,
                      backchannel_logout_uri=backchannel_logout_uri)
    app = obj.app
    with app.app_context():
        from .. import services

        try:
            row, secret = build_client(spec, secret_key=services.settings().secret_key, now=services.now())
        except ClientMetadataError as exc:
            raise CLIError(str(exc)) from None
        with services.database().session() as db:
            db.add(row)
            db.commit()
    result = {"client_id": row.client_id}
    if secret:
        result["client_secret"] = secret
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo(f"client_id:     {row.client_id}")
        if secret:
            click.echo(f"client_secret: {secret}   (shown once; store it now)")
