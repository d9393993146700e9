"""``idp throttle …``: see and clear the brute-force counters of an account or an IP."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from idp.cli import CLIError, Context, main

if TYPE_CHECKING:
    from idp.core.ports import Throttle

T = TypeVar("T")


@main.group("throttle")
def throttle_group() -> None:
    """See and clear sign-in throttles (needs IDP_REDIS_URL: in-process counters live in the server)."""


def _target(obj: Context, user: str | None, ip: str | None) -> tuple[Throttle, str | None, str | None]:
    """(throttle, account key or None, ip or None), after checking the options."""
    if not user and not ip:
        raise CLIError("give --user and/or --ip")
    if ip:
        try:
            ip = str(ipaddress.ip_address(ip.strip()))
        except ValueError:
            raise CLIError(f"--ip: {ip!r} is not an IP address") from None
    if not obj.settings.storage.redis_url:
        raise CLIError(
            "IDP_REDIS_URL is not set: the in-process throttle lives inside the serving process "
            "(restart it to clear its counters)"
        )
    from idp.domain.signin import account_key
    from idp.storage.sql import users as user_repo

    key = None
    if user:
        with obj.transaction() as db:
            key = account_key(user_repo.get_user_by_login(db, user), user)
    return obj.deps.throttle, key, ip


def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    from idp.core.errors import ThrottleUnavailable

    try:
        return fn(*args, **kwargs)
    except ThrottleUnavailable as exc:
        raise CLIError(f"cannot reach Redis: {exc}") from None


@throttle_group.command("status")
@click.option("--user", help="Registration number or e-mail (unknown names are throttled too).")
@click.option("--ip", help="Client IP address (IPv6 counts per /64).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_obj
def status(obj: Context, user: str | None, ip: str | None, as_json: bool) -> None:
    """Show failures, waits and remaining allowances."""
    throttle, key, ip = _target(obj, user, ip)
    result = _call(throttle.status, account=key, ip=ip)
    if as_json:
        click.echo(json.dumps(result))
        return
    if "account" in result:
        a = result["account"]
        wait = f"next attempt in {a['retry_after']} s" if a["retry_after"] else "not waiting"
        click.echo(
            f"account {user}: {a['failures']} counted attempts, {wait}; "
            f"known devices waiting: {a['known_devices_waiting']}"
        )
    if "ip" in result:
        parts = [
            f"{name} {v['remaining']}/{v['limit']} left"
            + (f" (retry in {v['retry_after']} s)" if v["remaining"] == 0 else "")
            for name, v in result["ip"]["limits"].items()
        ]
        click.echo(f"ip {result['ip']['address']}: " + "; ".join(parts))


@throttle_group.command("clear")
@click.option("--user", help="Registration number or e-mail: clears the account and its known devices.")
@click.option("--ip", help="Client IP address (IPv6: its /64): clears every per-IP limit.")
@click.pass_obj
def clear(obj: Context, user: str | None, ip: str | None) -> None:
    """Forget the counters, so the next attempt is allowed at once."""
    throttle, key, ip = _target(obj, user, ip)
    removed = _call(throttle.clear, account=key, ip=ip)
    what = " and ".join(x for x in (f"account {user}" if user else "", f"ip {ip}" if ip else "") if x)
    click.echo(f"cleared {removed} counter(s) for {what}")
