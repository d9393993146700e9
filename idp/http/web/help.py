"""Help where people get stuck: the /help page, the language switch, and the institution's
branding and contact details that every page shows (``IDP_BRAND_*``, ``IDP_HELP_*``)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from flask import Response, current_app, make_response, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from idp.core.urls import safe_local_path
from idp.http import i18n, uow
from idp.http import session as web_session
from idp.http.context import deps
from idp.http.web.views import bp
from idp.storage.sql import users as user_repo


@bp.get("/help")
def help_page() -> str:
    settings = deps().settings
    return render_template(
        "help.html",
        session_minutes=settings.sessions.idle_seconds // 60,
        page_minutes=settings.sessions.interaction_seconds // 60,
        reset_minutes=settings.accounts.reset_link_seconds // 60,
    )


@bp.get("/language")
def language() -> BaseResponse:
    """Remember the chosen language and go back to the page the user was on.

    A GET link so it works without JavaScript; it only sets a preference, so it needs no CSRF
    token. ``next`` must be a path on this server (``safe_local_path``: no open redirect)."""
    lang = request.args.get("lang", "")
    target = safe_local_path(request.args.get("next"))
    if lang not in i18n.LANGUAGES:
        return redirect(target, 303)
    from idp.http.protocol import interactions

    # A pending sign-in carries the relying party's ui_locales: the user's choice replaces it.
    interaction = interactions.load(request.args.get("interaction"))
    if interaction is not None:
        interaction.params["ui_locales"] = [lang]
        interaction.save()
    # Signed in: the account remembers it too (its pages in other browsers, its mail, the locale claim).
    signed_in = web_session.current()
    if signed_in is not None:
        user_repo.set_locale(uow.session(), signed_in.user, lang)
    response = make_response(redirect(target, 303))
    i18n.set_cookie(response, lang)
    return response


#: The header's diamond in the brand colour, on a white rounded square (legible on dark tab bars).
FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<rect width="32" height="32" rx="6" fill="#fff"/>'
    '<path d="M16 3 29 16 16 29 3 16Z" fill="{colour}"/></svg>\n'
)
#: A day: the colour changes only with the configuration; ETag revalidates after that.
FAVICON_MAX_AGE = 86400


@bp.get("/favicon.svg")
@bp.get("/favicon.ico", endpoint="favicon_ico")  # browsers ask for it whatever the page links
def favicon() -> BaseResponse:
    """A small SVG favicon in the configured primary colour, cacheable (pages link /favicon.svg)."""
    response = make_response(FAVICON.format(colour=deps().settings.branding.primary_color))
    response.mimetype = "image/svg+xml"
    response.cache_control.public = True
    response.cache_control.max_age = FAVICON_MAX_AGE
    response.add_etag()
    return response.make_conditional(request)


@bp.get("/brand.css")
def brand_css() -> Response:
    """The configured primary colour as a stylesheet (the CSP allows no inline style)."""
    colour = deps().settings.branding.primary_color
    response = make_response(f":root {{ --accent: {colour}; }}\n")
    response.mimetype = "text/css"
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


# Request parameters a page needs to be shown again after a form post (GET of the same path); the
# way back too, for a sign-in whose interaction expired (protocol/app_return.py).
_KEEP_ON_POST = ("interaction", "app_return", "token")


def _answers_get(path: str) -> bool:
    try:
        current_app.url_map.bind("").match(path, method="GET")
    except HTTPException:  # 405 (only POST here) or 404
        return False
    return True


def switch_language_url(lang: str) -> str:
    if request.method == "GET":
        here = request.full_path.rstrip("?")
    else:
        kept = {k: request.values[k] for k in _KEEP_ON_POST if request.values.get(k)}
        # A page that only answers a form (the device link's "check your e-mail") has no address to
        # show it again: the sign-in page, with the sign-in's way back, is the honest place instead.
        path = request.path if _answers_get(request.path) else url_for("web.login")
        here = path + ("?" + urlencode(kept) if kept else "")
    args = {"lang": lang, "next": here}
    if request.values.get("interaction"):
        args["interaction"] = request.values["interaction"]
    return "/language?" + urlencode(args)


def template_context() -> dict[str, Any]:
    settings = deps().settings
    return {
        "brand": SimpleNamespace(name=settings.branding.name, logo_url=settings.branding.logo_url),
        "help": SimpleNamespace(
            contact_name=settings.branding.help_contact_name or _l("IT service desk"),
            email=settings.branding.help_contact_email,
            phone=settings.branding.help_contact_phone,
            hours=settings.branding.help_contact_hours,
        ),
        "languages": list(i18n.NAMES.items()),
        "current_language": str(get_locale() or i18n.DEFAULT),
        "switch_language_url": switch_language_url,
    }
