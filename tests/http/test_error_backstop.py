"""The backstop of the one rule for OAuth error descriptions (idp/http/protocol/errors.py): a
description Authlib builds from the request is never sent, and never a 500 (the sources and the
registry are checked in tests/unit/test_error_descriptions.py)."""

from __future__ import annotations

import logging

import pytest
from authlib.oauth2.rfc6749.errors import InvalidRequestError

from idp.app import create_app
from idp.core.settings import Settings
from idp.http.protocol import errors
from idp.storage.store.memory import MemoryStore
from tests.support.constants import FAST_HASHER, TEST_KEYS_PASSPHRASE


def test_the_backstop_answers_an_authlib_description_failure_with_400(tmp_path, database, caplog):
    """Should Authlib (or our code) ever build a description with '"' again, the request is a 400
    ``invalid_request`` with a warning (the route fuzz fails on that warning), not a 500."""
    settings = Settings.from_env(
        {},
        issuer="http://127.0.0.1:8000",
        instance_dir=str(tmp_path),
        secret_key="b" * 40,
        database_url="sqlite://",
        keys_passphrase=TEST_KEYS_PASSPHRASE,
    )
    app = create_app(settings, database=database, store=MemoryStore(), hasher=FAST_HASHER)
    # A protocol endpoint (by its name), so the registry answers in OAuth JSON.
    app.add_url_rule("/quoting", "protocol.quoting", lambda: InvalidRequestError('The value "x" is wrong.'))
    caplog.set_level(logging.INFO)
    response = app.test_client().get("/quoting")
    assert response.status_code == 400 and response.get_json() == {
        "error": "invalid_request",
        "error_description": errors.GENERIC["invalid_request"],
    }
    assert [r.msg for r in caplog.records if r.levelno >= logging.WARNING] == [errors.REFUSED_DESCRIPTION_LOG]
    assert not any(r.exc_info for r in caplog.records)
    with pytest.raises(ValueError) as other:
        int("x")
    assert not errors.is_refused_description(other.value)
