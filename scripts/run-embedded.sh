#!/usr/bin/env bash
# Runs the web server and one Celery worker (with the beat scheduler) together on the
# embedded default. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
# The embedded default is for a laptop: no production secrets, our own error pages (DEBUG=true for debug pages).
export EMBEDDED=${EMBEDDED:-true}

trap 'kill 0 2>/dev/null' EXIT INT TERM
.venv/bin/celery -A rekindle worker --beat --queues priority,standard --concurrency 1 \
  --loglevel INFO --schedule var/celerybeat-schedule &
echo
echo "  Rekindle is running at http://${HOST}:${PORT}/  (Ctrl-C to stop)"
echo
.venv/bin/gunicorn rekindle.wsgi --bind "${HOST}:${PORT}" --workers 2 --threads 4 \
  --config gunicorn.conf.py --timeout 120 &
wait -n
