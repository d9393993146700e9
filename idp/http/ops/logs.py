"""Structured logs: one JSON object per line, each with the request id of the request it belongs to.

What is logged is chosen so that no secret can reach a log line: the request log has the path
(never the query string, which carries codes, states and hints), the endpoint, status, time and
client address; nothing logs form bodies, headers or tokens. Authlib logs issued tokens at DEBUG,
so its logger is held at INFO whatever ``IDP_LOG_LEVEL`` says.
"""

from __future__ import annotations

import logging
import time

from flask import Response, g, has_request_context, request

access_log = logging.getLogger("idp.access")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` (empty outside a request) to every record a handler emits."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = g.get("request_id", "")
        elif not hasattr(record, "request_id"):  # the fast path (idp.http.documents) passes its own
            record.request_id = ""
        return True


def dict_config(level: str = "INFO", fmt: str = "json") -> dict:
    """A ``logging.config.dictConfig`` dictionary (gunicorn's ``logconfig_dict`` and granian's
    ``log_dictconfig`` take the same)."""
    level = level.upper()
    formatters = {
        # "time" is ISO 8601 in UTC (python-json-logger's timestamp option).
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s %(request_id)s",
            "timestamp": "time",
            "rename_fields": {"levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
    }
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": fmt,
        "filters": ["request_id"],
    }
    quiet = level if logging.getLevelName(level) > logging.INFO else "INFO"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": formatters,
        "handlers": {"stderr": handler},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
            # granian's own logger (its Rust side logs through it too); its access log stays off.
            "_granian": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
            "granian.access": {"level": "WARNING", "handlers": ["stderr"], "propagate": False},
            "authlib": {"level": quiet},
            "urllib3": {"level": quiet},
        },
    }


def start_timer() -> None:
    g.request_started = time.perf_counter()


def elapsed() -> float:
    return time.perf_counter() - g.get("request_started", time.perf_counter())


def log_request(response: Response, duration: float) -> None:
    """One line per request: no query string, no body, no headers (they carry credentials)."""
    if not access_log.isEnabledFor(logging.INFO):  # e.g. IDP_LOG_LEVEL=WARNING: skip building the fields
        return
    from idp.http.context import client_ip

    endpoint = request.url_rule.endpoint if request.url_rule else ""
    log_line(request.method, request.path, response.status_code, endpoint, duration, client_ip())


def log_line(
    method: str, path: str, status: int, endpoint: str, duration: float, ip: str, request_id: str | None = None
) -> None:
    """The access-log line itself (``request_id`` only from outside a Flask request: the fast path)."""
    fields: dict[str, object] = {
        "method": method,
        "path": path[:200],
        "status": status,
        "endpoint": endpoint,
        "duration_ms": round(duration * 1000, 1),
        "ip": ip,
    }
    if request_id is not None:
        fields["request_id"] = request_id
    access_log.info("request", extra=fields)
