"""The relying parties' server-side session under two requests of one browser at once (a page and its
favicon): whichever request ends the session first, the other must answer normally, never with a 500."""

from __future__ import annotations

from flask import Flask, Request, Response
from sqlalchemy import select

from clients.common.config import RPConfig
from clients.common.session import TOUCH_SECONDS, ServerSession, ServerSessionInterface, _hash
from clients.common.storage import RPDatabase, RPSession


class FakeClock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def now(self) -> float:
        return self.t


class RacingDatabase(RPDatabase):
    """After this request has read its session row, "another request" deletes it before this one writes."""

    race = False

    def session(self):  # type: ignore[no-untyped-def]
        db = super().session()
        if not self.race:
            return db
        outer = self
        original_get = db.get

        def get(*args, **kwargs):  # type: ignore[no-untyped-def]
            row = original_get(*args, **kwargs)
            with RPDatabase.session(outer) as other:
                other.query(RPSession).delete()
                other.commit()
            return row

        db.get = get  # type: ignore[method-assign]
        return db


def setup(tmp_path):  # type: ignore[no-untyped-def]
    config = RPConfig(
        name="Test",
        issuer="http://127.0.0.1:1",
        client_id="c",
        client_secret="s",
        base_url="http://127.0.0.1:2",
        secret_key="k",
        database=str(tmp_path / "rp.db"),
        cookie_name="rp",
    )
    clock = FakeClock()
    database = RacingDatabase(config.database)
    interface = ServerSessionInterface(config, database, clock)
    app = Flask("t")
    session = ServerSession({"user": {"sub": "u1", "sid": "s1"}})
    session.modified = True
    response = Response()
    interface.save_session(app, session, response)
    token = session.token
    assert token and _hash(token)
    return config, clock, database, interface, app, token


def request_with(cookie: str, value: str) -> Request:
    from werkzeug.test import EnvironBuilder

    builder = EnvironBuilder(path="/", headers={"Cookie": f"{cookie}={value}"})
    return Request(builder.get_environ())


def rows(database: RPDatabase) -> int:
    with database.session() as db:
        return len(db.scalars(select(RPSession)).all())


def test_expiry_seen_by_two_requests_at_once_ends_the_session_for_both(tmp_path):
    config, clock, database, interface, app, token = setup(tmp_path)
    clock.t += config.session_idle_seconds + 1
    database.race = True
    opened = interface.open_session(app, request_with(config.cookie_name, token))
    assert opened.ended == "expired"
    assert not opened
    assert rows(database) == 0


def test_touch_of_a_session_another_request_just_ended_is_harmless(tmp_path):
    config, clock, database, interface, app, token = setup(tmp_path)
    clock.t += TOUCH_SECONDS + 1
    database.race = True
    opened = interface.open_session(app, request_with(config.cookie_name, token))
    assert opened.get("user") == {"sub": "u1", "sid": "s1"}
    database.race = False
    # The next request learns the session is gone, as after any sign-out.
    assert interface.open_session(app, request_with(config.cookie_name, token)).ended == "expired"


def test_saving_a_session_another_request_just_ended_does_not_revive_it(tmp_path):
    config, _clock, database, interface, app, token = setup(tmp_path)
    opened = interface.open_session(app, request_with(config.cookie_name, token))
    with database.session() as db:
        db.query(RPSession).delete()
        db.commit()
    opened["note"] = "written by a page that was still running"
    response = Response()
    interface.save_session(app, opened, response)
    assert rows(database) == 0
    assert "Set-Cookie" not in response.headers
