"""The SQL repositories' contract (``idp.storage.sql``), run on SQLite and on PostgreSQL (the
``database`` fixture's parameters), against the schema the migrations build.

Each test calls repository functions directly, no HTTP: the behaviour the domain relies on and
that differs easily between the two databases (case and ``LIKE`` rules, NULLs in unique indexes,
partial indexes, triggers, conditional updates under concurrency).
"""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from idp.core.errors import UserExists
from idp.core.tokens import token_hash
from idp.storage.sql import audit, clients, keys, sessions, tokens, users
from idp.storage.sql.models import Base, Client, Grant, InitialAccessToken, StoredKey, StoreEntry, User
from tests.support.race import at_once

T0 = 1_800_000_000.0
IDLE, ABSOLUTE = 600, 3600


@pytest.fixture
def db(clean_database):
    with clean_database.session() as session:
        yield session


def make_user(db, number="S1000001", email: str | None = "ada@example.edu") -> User:
    user = users.create_user(
        db, registration_number=number, email=email, name="Ada", role="student", password_hash=None, now=T0
    )
    db.commit()
    return user


def make_grant(db, user: User, client_id="rp", session_id: str | None = None) -> Grant:
    if clients.get_client(db, client_id) is None:
        clients.add_client(
            db, Client(client_id=client_id, name="RP", token_endpoint_auth_method="none", public=True, created_at=T0)
        )
    return tokens.add_grant(
        db,
        Grant(
            id=f"grant-{client_id}-{user.id}",
            user_id=user.id,
            client_id=client_id,
            session_id=session_id,
            scope="openid",
            auth_time=T0,
            created_at=T0,
        ),
    )


def test_the_migrations_build_exactly_the_schema_of_the_models(clean_database):
    with clean_database.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


# -- users -----------------------------------------------------------------------------------------


def test_a_user_is_found_by_registration_number_or_email_whatever_the_case_and_spaces(db):
    user = users.create_user(
        db,
        registration_number=" s1000001 ",
        email=" Ada@Example.EDU ",
        name=" Ada ",
        role="student",
        password_hash=None,
        now=T0,
    )
    db.commit()
    assert (user.registration_number, user.email, user.display_name) == ("s1000001", "Ada@Example.EDU", "Ada")
    for login in ("S1000001", "s1000001", "  S1000001\t", "ada@example.edu", "ADA@EXAMPLE.EDU", " Ada@Example.edu "):
        assert users.get_user_by_login(db, login).id == user.id, login
    for login in ("", "   ", "S1000002", "ada@example", "S100000"):
        assert users.get_user_by_login(db, login) is None, login


def test_a_users_language_is_unset_until_chosen_and_then_kept(db):
    user = make_user(db)
    assert user.locale is None
    assert users.set_locale(db, user, "de") and not users.set_locale(db, user, "de")
    db.commit()
    db.expire_all()
    assert users.get_user_by_login(db, "S1000001").locale == "de"


def test_a_registration_number_or_email_is_taken_once_whatever_the_case(db):
    make_user(db)
    for number, email in (("s1000001", "other@example.edu"), ("S2", "ADA@example.edu")):
        with pytest.raises(UserExists):
            users.create_user(
                db, registration_number=number, email=email, name="X", role="student", password_hash=None, now=T0
            )
    make_user(db, "S2", None)
    make_user(db, "S3", None)  # users without e-mail do not clash with each other


def test_the_database_refuses_a_duplicate_that_bypassed_the_check(db):
    make_user(db)
    for reg_norm, email_norm in (("S1000001", None), ("S9", "ada@example.edu")):
        db.add(
            User(
                sub=f"sub-{reg_norm}",
                registration_number=reg_norm,
                registration_number_norm=reg_norm,
                email_norm=email_norm,
                created_at=T0,
            )
        )
        with pytest.raises(IntegrityError):
            db.flush()
        db.rollback()


def test_user_search_matches_the_start_of_the_number_or_email_literally(db):
    ada, bob = make_user(db, "S1000001", "ada@example.edu"), make_user(db, "S1001", "bob_1@example.edu")
    assert [u.id for u in users.list_users(db, query="s100")] == [ada.id, bob.id]
    assert [u.id for u in users.list_users(db, query="ADA@")] == [ada.id]
    assert [u.id for u in users.list_users(db, query="bob_")] == [bob.id]
    assert users.list_users(db, query="_") == [] and users.list_users(db, query="%") == []  # not wildcards
    assert [u.id for u in users.list_users(db, limit=1, after_id=ada.id)] == [bob.id]


# -- browser sessions ------------------------------------------------------------------------------


def start(db, user: User, now: float = T0):
    row, token = sessions.start_session(
        db,
        user_id=user.id,
        amr=["pwd"],
        now=now,
        idle=IDLE,
        absolute=ABSOLUTE,
        ip="192.0.2.1",
        user_agent="Contract/1.0",
    )
    db.commit()
    return row, token


def test_a_session_is_found_by_its_cookie_value_which_is_stored_only_as_a_hash(db):
    row, token = start(db, make_user(db))
    assert sessions.find_active_session(db, token, now=T0, idle=IDLE)[0].id == row.id
    assert token not in (row.id, row.token_hash) and row.token_hash == token_hash(token)
    assert sessions.find_active_session(db, token + "x", now=T0, idle=IDLE) is None
    assert sessions.find_active_session(db, row.id, now=T0, idle=IDLE) is None  # the sid is no credential


def test_a_session_ends_after_its_idle_time_and_activity_extends_it(db):
    row, token = start(db, make_user(db))
    assert sessions.find_active_session(db, token, now=T0 + IDLE - 1, idle=IDLE) is not None
    assert sessions.find_active_session(db, token, now=T0 + IDLE, idle=IDLE) is None
    assert sessions.touch(db, row, T0 + 59) is False  # at most one write a minute
    assert sessions.touch(db, row, T0 + 500) is True
    db.commit()
    assert sessions.find_active_session(db, token, now=T0 + 500 + IDLE - 1, idle=IDLE) is not None


def test_a_session_ends_at_its_absolute_limit_however_active(db):
    row, token = start(db, make_user(db))
    for t in range(500, ABSOLUTE, 500):
        sessions.touch(db, row, T0 + t)
        db.commit()
    assert sessions.find_active_session(db, token, now=T0 + ABSOLUTE - 1, idle=IDLE) is not None
    assert sessions.find_active_session(db, token, now=T0 + ABSOLUTE, idle=IDLE) is None


def test_ended_sessions_are_not_found_and_end_once(db):
    user = make_user(db)
    (one, t1), (two, t2), (three, t3) = start(db, user), start(db, user), start(db, user)
    sessions.end_session(db, one.id, T0 + 1)
    assert sessions.end_user_sessions(db, user.id, T0 + 2, except_session_id=two.id) == [three.id]
    assert sessions.end_user_sessions(db, user.id, T0 + 3, except_session_id=two.id) == []
    db.commit()
    assert [sessions.find_active_session(db, t, now=T0 + 4, idle=IDLE) is not None for t in (t1, t2, t3)] == [
        False,
        True,
        False,
    ]


# -- refresh tokens and registration quotas: conditional updates ---------------------------------


def refresh_token(db, value="rt-1"):
    grant = make_grant(db, make_user(db))
    row = tokens.add_refresh_token(
        db, token=value, grant_id=grant.id, client_id="rp", scope="openid", now=T0, lifetime=3600
    )
    db.commit()
    return row, grant


def test_a_refresh_token_rotates_once_and_not_after_its_grant_is_revoked(db):
    row, grant = refresh_token(db)
    assert row.token_hash == token_hash("rt-1") and tokens.find_refresh_token(db, "rt-1")[1].id == grant.id
    first = tokens.claim_refresh_token(db, "rt-1", T0 + 1)
    assert first.won and first.row.id == row.id and first.row.rotated_at is None  # as it was before the claim
    assert first.grant.id == grant.id and first.user.id == grant.user_id and first.browser_session is None
    assert tokens.confirm_claim(db, first.row, T0 + 1)
    again = tokens.claim_refresh_token(db, "rt-1", T0 + 2)
    assert not again.won and again.row.rotated_at == T0 + 1  # what the reuse detection reads
    tokens.add_refresh_token(
        db, token="rt-2", grant_id=grant.id, client_id="rp", scope="openid", now=T0 + 1, lifetime=3600
    )
    tokens.revoke_grant(db, grant.id, T0 + 3)
    db.commit()
    revoked = tokens.claim_refresh_token(db, "rt-2", T0 + 4)
    assert not revoked.won and revoked.row.revoked_at == T0 + 3 and revoked.row.rotated_at is None
    assert tokens.claim_refresh_token(db, "unknown", T0 + 4) is None


def code_grant(user_id: int, grant_id="g-1") -> Grant:
    return Grant(
        id=grant_id,
        user_id=user_id,
        client_id="rp",
        scope="openid",
        auth_time=T0,
        amr=["pwd"],
        claims={},
        created_at=T0,
    )


def test_the_code_exchange_stores_the_grant_and_its_refresh_token_for_an_active_user(db):
    user = make_user(db)
    make_grant(db, user)  # registers the client
    assert tokens.exchange_code(db, code_grant(user.id), refresh_token="rt-1", lifetime=60).id == user.id
    db.commit()
    stored, grant = tokens.find_refresh_token(db, "rt-1")
    assert (grant.id, grant.user_id, grant.amr, grant.scope) == ("g-1", user.id, ["pwd"], "openid")
    assert (stored.grant_id, stored.client_id, stored.issued_at, stored.expires_at) == ("g-1", "rp", T0, T0 + 60)
    assert tokens.exchange_code(db, code_grant(user.id, "g-2"), refresh_token=None, lifetime=60).id == user.id
    db.commit()
    assert db.get(Grant, "g-2") is not None


def test_the_code_exchange_stores_nothing_for_a_missing_or_inactive_user(db):
    user = make_user(db)
    make_grant(db, user)
    assert tokens.exchange_code(db, code_grant(user.id + 1), refresh_token="rt-1", lifetime=60) is None
    user.active = False
    db.commit()
    assert tokens.exchange_code(db, code_grant(user.id, "g-2"), refresh_token="rt-2", lifetime=60).active is False
    db.commit()
    assert db.get(Grant, "g-1") is None and db.get(Grant, "g-2") is None
    assert tokens.find_refresh_token(db, "rt-1") is None and tokens.find_refresh_token(db, "rt-2") is None


def test_claiming_a_refresh_token_reads_the_browser_session_of_its_grant(db):
    user = make_user(db)
    session_id = start(db, user)[0].id
    grant = make_grant(db, user, session_id=session_id)
    tokens.add_refresh_token(db, token="rt-1", grant_id=grant.id, client_id="rp", scope="openid", now=T0, lifetime=60)
    db.commit()
    assert tokens.claim_refresh_token(db, "rt-1", T0 + 1).browser_session.id == session_id


def test_concurrent_rotations_of_one_refresh_token_have_exactly_one_winner(db, clean_database):
    refresh_token(db)

    def rotate(_i):
        with clean_database.session() as mine:
            claim = tokens.claim_refresh_token(mine, "rt-1", T0 + 1)
            rotated = claim.row.rotated_at  # as the claim read it
            won = claim.won and tokens.confirm_claim(mine, claim.row, T0 + 1)
            mine.commit()
            return won, rotated

    results = at_once(6, rotate)
    assert sorted(won for won, _rotated in results) == [False] * 5 + [True]
    # A loser sees the token as it was before its claim: unused (it raced the winner) or rotated by it.
    assert {rotated for _won, rotated in results} <= {None, T0 + 1}


def test_the_last_registration_slot_of_an_initial_token_is_taken_once(db, clean_database):
    row = clients.add_initial_token(
        db,
        InitialAccessToken(
            token_hash=token_hash("iat"), team="Library", created_at=T0, expires_at=T0 + 60, max_clients=2
        ),
    )
    db.commit()

    def take(_i):
        with clean_database.session() as mine:
            won = clients.take_initial_token_slot(mine, row.id)
            mine.commit()
            return won

    assert sorted(at_once(6, take)) == [False] * 4 + [True] * 2
    db.refresh(row)
    assert row.clients_registered == 2


# -- audit, store fallback, signing keys: what the schema itself enforces -------------------------


def test_audit_events_are_append_only_but_may_be_pruned(db):
    user = make_user(db)
    audit.record(db, audit.LOGIN_FAILURE, now=T0, user_id=user.id, ip="192.0.2.1", reason="bad_password")
    audit.record(db, audit.LOGIN_SUCCESS, now=T0 + 10, user_id=user.id, ip="192.0.2.1")
    db.commit()
    newest = audit.list_events(db, audit.EventFilter(user_id=user.id))
    assert [e.type for e in newest] == [audit.LOGIN_SUCCESS, audit.LOGIN_FAILURE]
    newest[0].ip = "10.0.0.1"
    with pytest.raises(DBAPIError, match="append-only"):
        db.commit()  # through the ORM, as any code path would
    db.rollback()
    with pytest.raises(DBAPIError, match="append-only"):
        db.execute(text("UPDATE audit_events SET details = '{}'"))
    db.rollback()
    assert audit.prune(db, before=T0 + 5) == 1
    db.commit()
    assert [(e.type, e.ip) for e in audit.list_events(db)] == [(audit.LOGIN_SUCCESS, "192.0.2.1")]


def test_store_fallback_holds_one_row_per_key_and_indexes_expiry(db, clean_database):
    indexes = inspect(clean_database.engine).get_indexes("store_fallback")
    assert any(i["column_names"] == ["expires_at"] for i in indexes)  # every write deletes the expired rows
    db.add(StoreEntry(key_hash=token_hash("code:1"), value="{}", expires_at=T0))
    db.commit()
    db.add(StoreEntry(key_hash=token_hash("code:1"), value="{}", expires_at=T0 + 1))
    with pytest.raises(IntegrityError):
        db.commit()


def key(kid: str, alg: str, state: str) -> StoredKey:
    return StoredKey(kid=kid, alg=alg, state=state, created_at=T0, public_jwk={"kid": kid}, private_key="")


def test_one_current_and_one_next_key_per_algorithm_whatever_the_caller_does(fresh_keys):
    with fresh_keys.session() as db:
        for row in (
            key("rs-1", "RS256", "current"),
            key("rs-2", "RS256", "next"),
            key("es-1", "ES256", "current"),
            key("rs-0", "RS256", "retired"),
            key("rs-00", "RS256", "retired"),
        ):
            keys.add_key(db, row)
        db.commit()
        for row in (key("rs-x", "RS256", "current"), key("rs-y", "RS256", "next")):
            with pytest.raises(IntegrityError):
                keys.add_key(db, row)
            db.rollback()
        # A rotation in one transaction, in the order the indexes allow: retire, promote, add.
        keys.get_key(db, "rs-1").state = "retired"
        db.flush()
        keys.get_key(db, "rs-2").state = "current"
        db.flush()
        keys.add_key(db, key("rs-3", "RS256", "next"))
        db.commit()
        assert sorted((k.kid, k.state) for k in keys.list_keys(db) if k.alg == "RS256") == [
            ("rs-0", "retired"),
            ("rs-00", "retired"),
            ("rs-1", "retired"),
            ("rs-2", "current"),
            ("rs-3", "next"),
        ]


# -- read-only units of work (userinfo, introspection: docs/performance.md) ------------------------


def _in_transaction(dbapi_connection) -> bool:
    """Whether the driver connection has a transaction open (psycopg and sqlite3 say it differently)."""
    info = getattr(dbapi_connection, "info", None)
    if info is not None and hasattr(info, "transaction_status"):  # psycopg: IDLE = 0
        return int(info.transaction_status) != 0
    return bool(dbapi_connection.in_transaction)


def test_a_read_session_runs_its_query_with_no_transaction_around_it(clean_database):
    make_user(clean_database.session())
    with clean_database.read_session() as read:
        assert users.get_user_by_login(read, "S1000001") is not None
        dbapi = read.connection().connection.dbapi_connection
        assert not _in_transaction(dbapi)  # no BEGIN was sent, so no ROLLBACK or COMMIT is owed
    with clean_database.session() as ordinary:
        users.get_user_by_login(ordinary, "S1000001")
        # The contrast on PostgreSQL: an ordinary unit of work opened a transaction for its read.
        if clean_database.engine.dialect.name == "postgresql":
            assert _in_transaction(ordinary.connection().connection.dbapi_connection)


def test_a_read_session_refuses_to_write_and_writes_nothing(clean_database):
    from sqlalchemy import update

    from idp.storage.sql.database import ReadOnlyViolation

    user = make_user(clean_database.session())
    with clean_database.read_session() as read:
        with pytest.raises(ReadOnlyViolation):
            read.execute(update(User).where(User.id == user.id).values(display_name="Mallory"))
        read.get(User, user.id).display_name = "Mallory"
        with pytest.raises(ReadOnlyViolation):
            read.flush()
    with clean_database.session() as check:
        assert users.get_user_by_login(check, "S1000001").display_name == "Ada"
