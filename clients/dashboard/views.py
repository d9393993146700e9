"""Dashboard pages (blueprint ``dashboard``)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, render_template

from ..common import current_user, login_required
from ..common.app import rp
from . import content

bp = Blueprint("dashboard", __name__, template_folder="templates")

HEADINGS = {
    "student": {
        "modules": "Your modules",
        "progress": "complete",
        "upcoming": "Upcoming assessments",
        "past": "Past assessments",
        "score": "Score",
    },
    "employee": {
        "modules": "Modules you teach",
        "progress": "cohort progress",
        "upcoming": "Assessments to mark",
        "past": "Marked assessments",
        "score": "Average mark",
    },
    "vendor": {
        "modules": "Supplier induction",
        "progress": "complete",
        "upcoming": "Upcoming checks",
        "past": "Completed checks",
        "score": "Score",
    },
}


@bp.get("/")
@login_required
def index() -> str:
    user, ctx = current_user(), rp()
    now = ctx.clock.now()
    data = content.for_user(ctx.database, user.get("registration_number"), now)
    headings = HEADINGS.get(user.get("role"), HEADINGS["student"])
    return render_template("dashboard/index.html", user=user, headings=headings, now=now, date=_date, **data)


def _date(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%a %d %b %Y")
