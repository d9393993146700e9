"""The use cases of the current request, built with exactly what each needs (warehouse's
``database_login_factory``): the request's unit of work, the app's backends and ``request_info``."""

from __future__ import annotations

from collections.abc import Callable

from flask import request
from sqlalchemy.orm import Session

from idp.domain.accounts import Accounts
from idp.domain.clients.service import Clients
from idp.domain.device_links import DeviceLinks
from idp.domain.devices import Devices
from idp.domain.factors.service import Factors
from idp.domain.signin import SignIn
from idp.http import capacity, uow
from idp.http.context import deps, request_info
from idp.storage.sql.resets import AskedFrom


def signin() -> SignIn:
    d = deps()
    refused = request.environ.get(capacity.AT_CAPACITY)  # by the worker's run queue: Busy at once
    return SignIn(
        db=uow.session(),
        throttle=d.throttle,
        hasher=d.hasher,
        gate=d.signin_gate.closed() if refused else d.signin_gate,
        devices=Devices.from_settings(d.settings, d.clock),
        now=d.clock.now,
        info=request_info(),
    )


def accounts(source: str | None = None) -> Accounts:
    """``source`` names an actor other than the signed-in user (the admin API's ``admin:<client_id>``)."""
    d = deps()
    return Accounts(
        db=uow.session(),
        settings=d.settings,
        now=d.clock.now,
        hasher=d.hasher,
        notifier=d.notifier,
        info=request_info(),
        source=source,
    )


def accounts_later(action: Callable[[Accounts], object]) -> None:
    """Run ``action`` on the mail thread, after this request has answered, with an ``Accounts`` of its
    own unit of work (committed when it returns): what a "forgot password" request does, so that
    the page answers in the same time whether or not the account exists."""
    d, info = deps(), request_info()

    def job() -> None:
        with d.database.transaction() as db:
            action(
                Accounts(db=db, settings=d.settings, now=d.clock.now, hasher=d.hasher, notifier=d.notifier, info=info)
            )

    d.postman.run_later(job)


def device_links() -> DeviceLinks:
    d = deps()
    return DeviceLinks(db=uow.session(), settings=d.settings, now=d.clock.now, throttle=d.throttle, info=request_info())


def device_link_later(login: str, lang: str, asked_from: AskedFrom | None) -> None:
    """Issue and mail a device-approval link on the mail thread, after this request has answered:
    the link in one unit of work, the mail once it committed, and a record of its delivery."""
    d, info = deps(), request_info()

    def links(db: Session) -> DeviceLinks:
        return DeviceLinks(db=db, settings=d.settings, now=d.clock.now, throttle=d.throttle, info=info)

    def job() -> None:
        with d.database.transaction() as db:
            issued = links(db).issue(login, lang, asked_from)
        if issued is None or not issued.user.email:  # issue() refuses a user without an address
            return
        delivered = d.notifier.send("device", issued.user.email, issued.lang, later=False, **issued.context)
        with d.database.transaction() as db:
            links(db).sent(issued.user, bool(delivered))

    d.postman.run_later(job)


def clients() -> Clients:
    d = deps()
    return Clients(
        db=uow.session(),
        secret_key=d.settings.server.secret_key,
        allow=d.outbound.allow,
        now=d.clock.now,
        info=request_info(),
        require_pkce_default=bool(d.settings.clients.require_pkce_default),
    )


def factors(source: str | None = None) -> Factors:
    """Second-factor use cases; ``source`` names an actor other than the signed-in user."""
    d = deps()
    return Factors(
        db=uow.session(),
        settings=d.settings,
        now=d.clock.now,
        throttle=d.throttle,
        notifier=d.notifier,
        info=request_info(),
        source=source,
    )
