"""The http tier: providers are apps driven through Flask's test client; none listens on a port."""

from __future__ import annotations

import pytest

from tests.conftest import provider_factory


@pytest.fixture
def make_provider(settings_factory, clean_database, clock):
    """Build providers in process (no live server); each shares the test's database, clock and store."""
    start, stop = provider_factory(settings_factory, clean_database, clock, serve=False)
    yield start
    stop()
