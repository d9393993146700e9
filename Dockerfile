# SPOM Login provider image.
#   build stage: a virtualenv with the provider and its dependencies (all ship binary wheels);
#   final stage: python slim + that virtualenv, no compiler, no pip, non-root, `idp serve` (granian; gunicorn with IDP_SERVER).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/idp
WORKDIR /src
COPY pyproject.toml README.md ./
COPY idp ./idp
# The gettext catalogues are compiled here (.po in git, .mo never committed; idp/http/i18n.py).
RUN /opt/idp/bin/pip install . \
 && /opt/idp/bin/python -m idp.http.i18n \
 && (/opt/idp/bin/pip uninstall --yes pip setuptools wheel || true) \
 && rm -rf /opt/idp/bin/pip* \
 && find /opt/idp -name '__pycache__' -prune -exec rm -rf {} +

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="SPOM Login" \
      org.opencontainers.image.description="OpenID Connect provider for institutions" \
      org.opencontainers.image.licenses="Apache-2.0"
# No build tools in the final image: the system pip/setuptools go too.
RUN (python -m pip uninstall --yes pip setuptools wheel 2>/dev/null || true) \
 && groupadd --system --gid 10001 idp \
 && useradd --system --uid 10001 --gid idp --home-dir /var/lib/idp --shell /usr/sbin/nologin idp \
 && mkdir -p /var/lib/idp/instance /var/lib/idp/metrics /var/lib/idp/clients \
 && chown -R idp:idp /var/lib/idp
COPY --from=build /opt/idp /opt/idp
COPY --chown=root:root clients /app/clients
ENV PATH=/opt/idp/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    IDP_INSTANCE_DIR=/var/lib/idp/instance \
    PROMETHEUS_MULTIPROC_DIR=/var/lib/idp/metrics
WORKDIR /app
USER idp:idp
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
# granian (IDP_SERVER=gunicorn for gunicorn), configured from IDP_* settings (workers, threads, graceful
# shutdown on SIGTERM, a crashed worker replaced).
CMD ["idp", "serve", "--host", "0.0.0.0", "--port", "8000"]
