"""``python -m clients.dashboard``: serve the dashboard at ``DASHBOARD_BASE_URL``."""

import os

from ..common.serve import serve
from . import config_from_env, create_app

config = config_from_env()
links = (("Supplier Portal", os.environ["SUPPLIER_PORTAL_URL"]),) if os.environ.get("SUPPLIER_PORTAL_URL") else ()
serve(create_app(config, links=links), config.base_url)
