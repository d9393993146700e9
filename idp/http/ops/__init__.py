"""Operations: health and readiness, Prometheus metrics, request logging and timing.

Imports stay inside the functions: ``idp serve`` imports ``idp.http.ops.gunicorn`` and must set
``PROMETHEUS_MULTIPROC_DIR`` before anything imports ``prometheus_client``.
"""

from __future__ import annotations

from flask import Flask, Response, request


def init_app(app: Flask) -> None:
    from idp.http.ops import logs
    from idp.http.ops.views import bp

    app.register_blueprint(bp)
    app.before_request(logs.start_timer)
    app.after_request(_observe)


def _observe(response: Response) -> Response:
    from idp.core import metrics
    from idp.http.ops import logs

    duration = logs.elapsed()
    endpoint = request.url_rule.endpoint if request.url_rule else "unmatched"
    metrics.child(metrics.REQUEST_SECONDS, endpoint, request.method).observe(duration)
    metrics.child(metrics.RESPONSES, endpoint, request.method, str(response.status_code)).inc()
    logs.log_request(response, duration)
    return response
