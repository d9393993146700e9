"""Fixtures of the e2e tier."""

from __future__ import annotations

import pytest

from tests.support.cli import base_env, run
from tests.support.constants import TEST_KEYS_PASSPHRASE


@pytest.fixture
def env(tmp_path, database_url, clean_database):
    """An initialised installation on the test database (SQLite file or PostgreSQL)."""
    # The run's shared test database holds the run's keys: same passphrase as the providers.
    env = base_env(tmp_path, database_url=database_url, secret_key="s" * 40, keys_passphrase=TEST_KEYS_PASSPHRASE)
    result = run(env, "init")
    assert result.returncode == 0, result.stderr
    return env


@pytest.fixture
def cli(provider, tmp_path, database_url):
    """The CLI on the provider's database and issuer (so the links it prints open on that provider)."""
    # The run's shared test database holds the run's keys: same passphrase as the providers (without
    # it, a CLI run on an empty key table would make keys no provider of the run can open).
    env = base_env(
        tmp_path,
        database_url=database_url,
        secret_key="s" * 40,
        issuer=provider.url,
        keys_passphrase=TEST_KEYS_PASSPHRASE,
    )
    return lambda *args, stdin=None, **extra: run(
        {**env, **{f"IDP_{k.upper()}": v for k, v in extra.items()}}, *args, stdin=stdin
    )
