# keevx-bot's image: `docker build -t keevx-bot .`, then see compose.yaml and README "Containers".
# No secret is baked in: every token and key comes from the environment at run time.
ARG PYTHON_VERSION=3.11

# -- build: install the bot and its pinned dependencies into a venv -------------------------
FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml constraints.txt README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY storage ./storage
# The translations are compiled (.po → .mo) before the install, which packs them.
RUN /opt/venv/bin/pip install -c constraints.txt babel \
 && for domain in core telegram discord; do \
      /opt/venv/bin/pybabel compile --quiet -d bot/locales -D "$domain"; \
    done \
 && /opt/venv/bin/pip install -c constraints.txt .

# -- run: the venv alone on a fresh slim base, as an unprivileged user ----------------------
FROM python:${PYTHON_VERSION}-slim
RUN groupadd --system --gid 10001 keevx \
    && useradd --system --uid 10001 --gid keevx --home-dir /app --shell /usr/sbin/nologin keevx \
    && mkdir -p /app/data && chown keevx:keevx /app/data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8080 \
    LOG_FORMAT=json
WORKDIR /app
USER keevx
# /healthz, /readyz, /metrics, Telegram webhooks and Keevx callbacks
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=4)"]
# The default DATABASE_URL (SQLite, one instance) keeps its file in /app/data: mount a volume
# there (`-v keevx-data:/app/data`); compose.yaml uses PostgreSQL instead.
ENTRYPOINT ["keevx-bot"]
CMD ["run"]
