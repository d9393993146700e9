"""Supplier Portal pages (blueprint ``supplier_portal``)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from ..common import current_user, login_required
from ..common.app import rp
from . import content

bp = Blueprint("supplier_portal", __name__, template_folder="templates")


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    user = current_user()
    if user.get("role") not in ("vendor", "employee"):
        # Signed in (single sign-on worked) but this portal has nothing for students.
        return render_template("supplier_portal/not_for_you.html", user=user), 403
    orders = content.orders_for(rp().database, user)
    return render_template("supplier_portal/index.html", user=user, orders=orders, date=_date)


def _date(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%d %b %Y")
