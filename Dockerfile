# syntax=docker/dockerfile:1
# Multi-stage build. Targets:
#   production (the default: the last stage) — the portal: web, worker, beat, migrations;
#   dev — the same image plus devtools/ (the development IdP and the Go stand-in), which
#         compose.yaml runs beside the portal. The production image does not contain them.
# Dependencies and static files are built in the first stage; the final images have no
# compilers, no uv, and run as a non-root user.

FROM python:3.12-slim AS build
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy
RUN pip install --no-cache-dir "uv>=0.5"
WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-install-project --no-dev
COPY . .
# collectstatic needs settings to import; these placeholders never reach the final image.
RUN DJANGO_SETTINGS_MODULE=portal.settings.production \
    DJANGO_SECRET_KEY=collectstatic-only ALLOWED_HOSTS=build DATABASE_URL=postgres://build/build \
    CELERY_BROKER_URL=amqp://build// \
    /opt/venv/bin/python manage.py collectstatic --no-input
# Development-only code (a demo IdP with known passwords, a fake Go service) is set aside
# for the dev target and never copied into the production image.
RUN mkdir /devtools-only && mv devtools /devtools-only/devtools
# Where report files go (MEDIA_ROOT in compose.yaml); a volume mounted here keeps this owner.
RUN mkdir -p /app/media

FROM python:3.12-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=portal.settings.production
RUN groupadd --system --gid 10001 portal \
    && useradd --system --uid 10001 --gid portal --home-dir /app --shell /usr/sbin/nologin portal
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=portal:portal /app /app
USER portal
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
CMD ["gunicorn", "--config", "portal/gunicorn.conf.py", "portal.wsgi"]

# The development IdP (python -m devtools.idp) and the Go stand-in (python -m devtools.standin)
# need nothing beyond the portal's own dependencies. compose.yaml gives each its command and
# healthcheck; the portal's web healthcheck does not apply to them.
FROM runtime AS dev
COPY --from=build --chown=portal:portal /devtools-only/devtools /app/devtools
HEALTHCHECK NONE

FROM runtime AS production
