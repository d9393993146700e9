"""Values the tiers share: the repository root, the backends under test, test-only secrets and
the external services (Redis, Chromium) the suite talks to."""

from __future__ import annotations

import os
from pathlib import Path

from idp.core.passwords import PasswordHasher

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("IDP_TEST_DATABASE_URL") else [])
# Fast argon2 parameters for tests; production takes its profile from the settings (argon2_*).
FAST_HASHER = PasswordHasher(memory_kib=1024, time_cost=1, parallelism=1)
TEST_KEYS_PASSPHRASE = "test keys passphrase, not secret"
REDIS_URL = os.environ.get("IDP_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# The real browser (tests/e2e/test_browser.py, tests/e2e/test_accessibility.py): Debian's chromium
# driven by Playwright; never a browser downloaded by `playwright install`.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
