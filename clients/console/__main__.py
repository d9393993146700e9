"""``python -m clients.console``: serve the console at ``CONSOLE_BASE_URL``."""

import os
import sys

from ..common.config import RPConfigError
from ..common.serve import serve
from . import config_from_env, create_app

try:
    config = config_from_env()
except RPConfigError as exc:
    sys.exit(f"error: {exc}")
serve(create_app(config), config.base_url, bind=os.environ.get("CONSOLE_BIND"))
