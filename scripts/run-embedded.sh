#!/usr/bin/env bash
# Runs the web server, one Celery worker and the beat scheduler together on the embedded
# default. Ctrl-C (or SIGTERM to this script) stops them all: gunicorn and beat at once, the
# worker after its current job (an idle one exits in a few seconds); a second Ctrl-C stops
# everything at once.
set -euo pipefail
cd "$(dirname "$0")/.."
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
# The embedded default is for a laptop: no production secrets, our own error pages (DEBUG=true for debug pages).
export EMBEDDED=${EMBEDDED:-true}

web=""
worker=""
beat=""
stopping=0

alive() {
  local pid
  for pid in "$@"; do
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then return 0; fi
  done
  return 1
}

stop() {
  local code=${1:-0}
  if ((stopping)); then
    echo "  Stopping at once."
    kill -KILL $web $worker $beat 2>/dev/null || true
    exit 130
  fi
  stopping=1
  trap 'stop 130' INT
  echo
  echo "  Stopping Rekindle…"
  # gunicorn: SIGINT is its quick shutdown. Celery: SIGTERM is a warm shutdown (the current
  # job finishes; a second SIGINT would be a cold one, so the worker never gets SIGINT from here).
  # The terminal's own SIGINT reaches every process of the group; the worker, started with `&`
  # (SIGINT ignored), keeps ignoring it, so this SIGTERM is the only signal it gets (processing.worker).
  kill -INT $web 2>/dev/null || true
  kill -TERM $worker $beat 2>/dev/null || true
  for _ in $(seq 40); do
    alive "$web" "$worker" "$beat" || break
    sleep 0.1
  done
  # Beat holds no work (only its schedule file): if it missed the signal (as it can while still
  # starting), it is stopped outright.
  if alive "$beat"; then kill -KILL "$beat" 2>/dev/null || true; fi
  if alive "$worker"; then
    echo "  Waiting for the worker to finish its job (Ctrl-C again to stop at once)…"
  fi
  while alive "$web" "$worker" "$beat"; do sleep 0.1; done
  exit "$code"
}
trap 'stop 130' INT
trap 'stop 143' TERM

# The solo pool runs jobs in the worker process itself: no pool child to stop, one job at a time.
# Beat runs as its own process: embedded in the worker (--beat) it held up the worker's warm
# shutdown for seconds. Its schedule file is CELERY_BEAT_SCHEDULE_FILENAME, under REKINDLE_VAR_DIR.
.venv/bin/celery -A rekindle --quiet worker --pool solo --queues priority,standard --loglevel INFO &
worker=$!
.venv/bin/celery -A rekindle --quiet beat --loglevel INFO &
beat=$!
# Browsers talk to it directly (no nginx in front): gunicorn's own short keep-alive, and a stop
# that waits at most 5 s for a busy worker (production's 75 s / 30 s suit a proxy in front).
.venv/bin/gunicorn rekindle.wsgi --bind "${HOST}:${PORT}" --workers 2 --threads 4 \
  --config gunicorn.conf.py --timeout 120 --keep-alive 2 --graceful-timeout 5 &
web=$!
echo
echo "  Rekindle is running at http://${HOST}:${PORT}/  (Ctrl-C to stop)"
echo
# Any of them ending on its own stops the others.
wait -n || true
stop 1
