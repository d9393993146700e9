"""``idp mail retry``: send again the mail that could not be delivered (kept in ``<outbox>/failed``)."""

from __future__ import annotations

import json
from email import policy
from email.parser import BytesParser

import click

from idp.cli import CLIError, Context, main


@main.group("mail")
def mail_group() -> None:
    """Outgoing mail."""


@mail_group.command("retry")
@click.option("--json", "as_json", is_flag=True, help='Print {"sent": N, "failed": N}.')
@click.pass_obj
def retry(obj: Context, as_json: bool) -> None:
    """Send every message kept in <outbox>/failed once more through the SMTP server; each one
    delivered is removed. Exit status 1 while any message is still undeliverable."""
    from idp.core.mail import OutboxMailer, mailer_from_settings

    settings = obj.settings
    mailer = mailer_from_settings(settings)
    if isinstance(mailer, OutboxMailer):
        raise CLIError("no SMTP server configured (set IDP_SMTP_HOST)")
    sent = failed = 0
    for path in sorted((settings.mail.outbox_path / "failed").glob("*.eml")):
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        plain, html = message.get_body(("plain",)), message.get_body(("html",))
        if plain is None:  # not one of ours: every message the provider writes has a text part
            failed += 1
            click.echo(f"{path.name}: still undeliverable: no text/plain part", err=True)
            continue
        try:
            mailer.send(
                message["To"],
                message["Subject"],
                plain.get_content(),
                html.get_content() if html is not None else None,
            )
        except OSError as exc:  # smtplib's errors are OSErrors too
            failed += 1
            click.echo(f"{path.name}: still undeliverable: {exc.__class__.__name__}: {exc}", err=True)
            continue
        path.unlink()
        sent += 1
    click.echo(json.dumps({"sent": sent, "failed": failed}) if as_json else f"{sent} sent, {failed} still failing")
    if failed:
        raise SystemExit(1)
