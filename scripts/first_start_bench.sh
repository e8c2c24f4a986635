#!/usr/bin/env bash
# Times the first start of the embedded default as a new user gets it, after installation:
# a fresh, empty var/ folder -> `make run` -> /healthz answers; then Ctrl-C (SIGINT to the
# whole process group, as a terminal sends it) -> every process has exited. Prints both times.
# Usage: bash scripts/first_start_bench.sh   (or: make first-start-bench)
set -euo pipefail
cd "$(dirname "$0")/.."
make --quiet install >/dev/null

var_dir=$(mktemp -d)
port=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log="$var_dir/run.log"
cleanup() { kill -KILL -- "-$pid" 2>/dev/null || true; rm -rf "$var_dir"; }

started=$(date +%s.%N)
# A session (and so a process group) of its own, like a terminal's foreground job.
REKINDLE_VAR_DIR="$var_dir" setsid make --quiet run PORT="$port" >"$log" 2>&1 &
pid=$!
trap cleanup EXIT
until curl -fsS -o /dev/null "http://127.0.0.1:$port/healthz" 2>/dev/null; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "make run exited before /healthz answered:" >&2
    cat "$log" >&2
    exit 1
  fi
  if (($(date +%s) - ${started%.*} > 300)); then
    echo "/healthz did not answer within 300 s" >&2
    exit 1
  fi
  sleep 0.1
done
healthy=$(date +%s.%N)
printf 'first start (fresh var dir -> healthy /healthz): %.1f s\n' "$(echo "$healthy - $started" | bc)"

# Ctrl-C once the worker is up too (a person stops the server later than this).
until grep -q "ready\." "$log"; do sleep 0.1; done
stopping=$(date +%s.%N)
kill -INT -- "-$pid"
while pgrep -g "$pid" >/dev/null; do
  if (($(date +%s) - ${stopping%.*} > 120)); then
    echo "still running 120 s after Ctrl-C" >&2
    exit 1
  fi
  sleep 0.1
done
printf 'stop (Ctrl-C -> every process exited): %.1f s\n' "$(echo "$(date +%s.%N) - $stopping" | bc)"
echo "console output of make run:"
sed 's/^/  | /' "$log"
