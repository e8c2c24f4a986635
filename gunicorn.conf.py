"""gunicorn settings shared by `make run`, the Docker image and docker-compose (gunicorn also
reads ./gunicorn.conf.py by itself when started from the repository root).

Production runs gunicorn behind nginx (deploy/nginx/rekindle.conf.template), which buffers
whole request bodies and responses, so a thread here only ever talks to a fast local client;
docs/scaling.md says why and what the load test measured.

The access log prints request lines and referers, which carry share, hand-off, signed-media
and password-reset tokens: it goes through rekindle.logging.RedactingGunicornLogger.
"""

import os

# Request lines to stdout, with tokens and email addresses redacted.
accesslog = "-"
logger_class = "rekindle.logging.RedactingGunicornLogger"

# Processes × threads: one process per core (WEB_CONCURRENCY, gunicorn's own variable), each
# with GUNICORN_THREADS threads for the time requests wait on PostgreSQL, Redis and S3.
# Command-line flags (`make run`) still win over these.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
# A request that takes longer than this is a bug: its worker is restarted. nginx gives up on
# the upstream 5 s later (proxy_read_timeout).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
# nginx keeps upstream connections open (keepalive 16); keep ours open a little longer than
# its idle time so it never reuses one we just closed.
keepalive = 75
