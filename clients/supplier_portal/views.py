"""Supplier Portal pages (blueprint ``supplier_portal``)."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

from ..common import current_user, login_required
from ..common.app import rp
from ..common.i18n import N_
from . import content

bp = Blueprint("supplier_portal", __name__, template_folder="templates")

ROLES = {"student": N_("student"), "employee": N_("employee"), "vendor": N_("vendor")}


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    user = current_user()
    if user.get("role") not in ("vendor", "employee"):
        # Signed in (single sign-on worked) but this portal has nothing for students.
        role = ROLES.get(user.get("role"), str(user.get("role")))
        return render_template("supplier_portal/not_for_you.html", user=user, role_name=role), 403
    orders = content.orders_for(rp().database, user)
    awaiting = sum(o.status == "awaiting approval" for o in orders)
    return render_template(
        "supplier_portal/index.html", user=user, orders=orders, awaiting=awaiting, statuses=content.STATUSES
    )
