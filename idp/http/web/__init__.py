"""Server-rendered pages and the per-request hooks they rely on."""

from flask import Flask

from idp.http import context as http
from idp.http import session
from idp.http.protocol.app_return import WayBack
from idp.http.web import device
from idp.http.web.csrf import csrf_token, set_csrf_cookie


def init_app(app: Flask) -> None:
    # Imported for their routes on the web and account blueprints.
    from idp.http.web import account_factors, device_approval, passkeys, password, second_factor  # noqa: F401
    from idp.http.web import help as help_pages
    from idp.http.web.account import bp as account_bp
    from idp.http.web.views import bp

    app.register_blueprint(bp)
    app.register_blueprint(account_bp)
    app.jinja_env.globals["csrf_token"] = csrf_token
    # Every sign-in page's links and forms carry its way back (``way``); a page of no sign-in has none.
    app.context_processor(lambda: {"way": WayBack()})
    app.context_processor(help_pages.template_context)
    app.before_request(http.assign_request_id)
    app.before_request(http.refuse_nul)
    app.after_request(session.apply_cookie)
    app.after_request(device.apply_cookie)
    app.after_request(set_csrf_cookie)
    app.after_request(http.security_headers)
