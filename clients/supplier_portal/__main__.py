"""``python -m clients.supplier_portal``: serve the portal at ``SUPPLIER_PORTAL_BASE_URL``."""

import os

from ..common.serve import serve
from . import config_from_env, create_app

config = config_from_env()
links = (("SPOM Dashboard", os.environ["DASHBOARD_URL"]),) if os.environ.get("DASHBOARD_URL") else ()
serve(create_app(config, links=links), config.base_url)
