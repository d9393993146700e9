"""``python -m clients.supplier_portal``: serve the portal at ``SUPPLIER_PORTAL_BASE_URL``."""

import os
import sys

from ..common.config import RPConfigError
from ..common.serve import serve
from . import config_from_env, create_app

try:
    config = config_from_env()
except RPConfigError as exc:
    sys.exit(f"error: {exc}")
links = (("SPOM Dashboard", os.environ["DASHBOARD_URL"]),) if os.environ.get("DASHBOARD_URL") else ()
serve(create_app(config, links=links), config.base_url, bind=os.environ.get("SUPPLIER_PORTAL_BIND"))
