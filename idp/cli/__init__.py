"""The ``idp`` command: one click group, one module per command group (CONVENTIONS 11)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import IO, TYPE_CHECKING, Any

import click
from click.exceptions import NoArgsIsHelpError

from idp.core.request import RequestInfo
from idp.core.settings import Settings, SettingsError

if TYPE_CHECKING:  # the CLI builds the app (and so imports the rest) only when a command needs it
    from flask import Flask
    from sqlalchemy.orm import Session

    from idp.core.deps import Deps
    from idp.domain.accounts import Accounts
    from idp.domain.clients.service import Clients
    from idp.domain.factors.service import Factors


class CLIError(click.ClickException):
    """A one-line error with exit status 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class OneLineUsageError(click.UsageError):
    """click's usage errors (missing option, bad value, no such command) in the project's one-line
    form, ``error: …``, still with exit status 2. click would print a usage block, a "Try … --help"
    line and the message on three lines."""

    def show(self, file: IO[Any] | None = None) -> None:
        hint = f" (see '{self.ctx.command_path} --help')" if self.ctx is not None else ""
        click.echo(f"error: {self.format_message()}{hint}", err=True)


@contextmanager
def _one_line_usage_errors() -> Iterator[None]:
    try:
        yield
    except (OneLineUsageError, NoArgsIsHelpError):  # already one line / the help the user asked for
        raise
    except click.UsageError as exc:
        raise OneLineUsageError(exc.format_message(), exc.ctx) from None


class Group(click.Group):
    """The ``idp`` group: usage errors of every subcommand are caught where click raises them —
    while parsing a command line (``make_context``) or resolving and running a subcommand
    (``invoke``) — and shown in one line."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        with _one_line_usage_errors():
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        with _one_line_usage_errors():
            return super().invoke(ctx)


class Context:
    """Settings and backends, built lazily so ``--help`` works without a configuration. A command's
    unit of work is ``transaction()``: one transaction, committed when the command's work is done."""

    #: What a command's audit rows carry instead of a client address.
    INFO = RequestInfo(user_agent="idp cli")

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._app: Flask | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = Settings.from_env()
            except SettingsError as exc:
                raise CLIError(f"invalid configuration: {exc}") from None
        return self._settings

    @property
    def app(self) -> Flask:
        if self._app is None:
            from idp.app import create_app

            self._app = create_app(self.settings)
        return self._app

    @property
    def deps(self) -> Deps:
        from idp.app import deps_of

        return deps_of(self.app)

    def transaction(self) -> AbstractContextManager[Session]:
        return self.deps.database.transaction()

    def accounts(self, db: Session) -> Accounts:
        from idp.domain.accounts import Accounts

        d = self.deps
        return Accounts(
            db=db,
            settings=d.settings,
            now=d.clock.now,
            hasher=d.hasher,
            notifier=d.notifier,
            info=self.INFO,
            source="cli",
        )

    def factors(self, db: Session) -> Factors:
        """The second-factor use cases on ``db``, audited with ``source: cli`` (the help desk's commands)."""
        from idp.domain.factors.service import Factors

        d = self.deps
        return Factors(
            db=db,
            settings=d.settings,
            now=d.clock.now,
            throttle=d.throttle,
            notifier=d.notifier,
            info=self.INFO,
            source="cli",
        )

    def clients(self, db: Session) -> Clients:
        from idp.domain.clients.service import Clients

        d = self.deps
        return Clients(
            db=db,
            secret_key=d.settings.server.secret_key,
            allow=d.outbound.allow,
            now=d.clock.now,
            info=self.INFO,
            require_pkce_default=bool(d.settings.clients.require_pkce_default),
        )

    def close(self) -> None:
        """Let queued mail leave (a command's notices go after its commit, on the mail thread), then close
        the database connections (matters when commands run in-process, as in tests)."""
        if self._app is not None:
            try:
                self.deps.postman.wait_idle()
            except TimeoutError:  # a slow mail server: the mail thread still finishes before the process ends
                click.echo("warning: mail is still being delivered", err=True)
            self.deps.database.dispose()


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def main(ctx: click.Context) -> None:
    """SPOM Login: the institution's OpenID Connect provider.

    Configuration comes from IDP_* environment variables (see docs/configuration.md).
    """
    ctx.obj = Context()
    ctx.call_on_close(ctx.obj.close)


def read_secret_stdin(what: str) -> str:
    """A secret from standard input (never argv): first line, without its newline."""
    if sys.stdin is None:
        raise CLIError(f"{what} expected on standard input")
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise CLIError(f"{what} expected on standard input, got nothing")
    return value


from idp.cli import audit, clients, database, keys, mail, mfa, roles, serve, throttle, users, users_admin  # noqa: E402,F401  (registers the commands)
