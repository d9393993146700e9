"""Dashboard pages (blueprint ``dashboard``)."""

from __future__ import annotations

from flask import Blueprint, render_template

from ..common import current_user, login_required, step_up_required
from ..common.app import rp
from ..common.i18n import N_
from . import content

bp = Blueprint("dashboard", __name__, template_folder="templates")

#: The page's words per role; translated where they are shown (the catalogue has them through N_).
HEADINGS = {
    "student": {
        "modules": N_("Your modules"),
        "modules_count": N_("modules"),
        "average": N_("average progress"),
        "progress": N_("complete"),
        "upcoming": N_("Upcoming assessments"),
        "upcoming_count": N_("upcoming assessments"),
        "past": N_("Past assessments"),
        "score": N_("Score"),
    },
    "employee": {
        "modules": N_("Modules you teach"),
        "modules_count": N_("modules taught"),
        "average": N_("average cohort progress"),
        "progress": N_("cohort progress"),
        "upcoming": N_("Assessments to mark"),
        "upcoming_count": N_("assessments to mark"),
        "past": N_("Marked assessments"),
        "score": N_("Average mark"),
    },
    "vendor": {
        "modules": N_("Supplier induction"),
        "modules_count": N_("induction courses"),
        "average": N_("average progress"),
        "progress": N_("complete"),
        "upcoming": N_("Upcoming checks"),
        "upcoming_count": N_("upcoming checks"),
        "past": N_("Completed checks"),
        "score": N_("Score"),
    },
}
ROLES = {"student": N_("Student"), "employee": N_("Employee"), "vendor": N_("Vendor")}


@bp.get("/")
@login_required
def index() -> str:
    user, ctx = current_user(), rp()
    now = ctx.clock.now()
    data = content.for_user(ctx.database, user.get("registration_number"), now)
    role = user.get("role")
    headings = HEADINGS.get(role, HEADINGS["student"])
    modules = data["modules"]
    average = round(sum(m.progress for m in modules) / len(modules)) if modules else 0
    return render_template(
        "dashboard/index.html",
        user=user,
        headings=headings,
        role_name=ROLES.get(role, str(role or "").capitalize()),
        average=average,
        now=now,
        **data,
    )


#: What each RFC 8176 method the provider reports means, for the step-up page.
METHODS = {
    "pwd": N_("password"),
    "otp": N_("one-time code (authenticator app or recovery code)"),
    "hwk": N_("passkey kept on one device"),
    "swk": N_("passkey that may be synced between devices"),
    "user": N_("the device checked it was you (PIN, fingerprint or face)"),
    "mfa": N_("more than one factor"),
}


@bp.get("/assessments")
@step_up_required
def assessments() -> str:
    """Marks and results: shown only after a second step of sign-in (``acr_values`` step-up), with
    the methods the provider reported in the ID token (``amr``)."""
    user, ctx = current_user(), rp()
    data = content.for_user(ctx.database, user.get("registration_number"), ctx.clock.now())
    headings = HEADINGS.get(user.get("role"), HEADINGS["student"])
    amr = user.get("amr") or []
    return render_template(
        "dashboard/assessments.html",
        user=user,
        headings=headings,
        past=data["past"],
        amr=amr,
        methods=[(m, METHODS.get(m, m)) for m in amr],
        acr=user.get("acr"),
    )
