"""``python -m clients.dashboard``: serve the dashboard at ``DASHBOARD_BASE_URL``."""

import os
import sys

from ..common.config import RPConfigError
from ..common.serve import serve
from . import config_from_env, create_app

try:
    config = config_from_env()
except RPConfigError as exc:
    sys.exit(f"error: {exc}")
links = (("Supplier Portal", os.environ["SUPPLIER_PORTAL_URL"]),) if os.environ.get("SUPPLIER_PORTAL_URL") else ()
serve(create_app(config, links=links), config.base_url, bind=os.environ.get("DASHBOARD_BIND"))
