#!/usr/bin/env bash
# Checks that the PostgreSQL and Redis the test suite uses answer; says how to start them.
set -uo pipefail
db_url=$1
redis_url=$2
ok=0
if ! .venv/bin/python - "$db_url" <<'PY' 2>/dev/null
import sys, psycopg, re
url = re.sub(r"/[^/]*$", "/postgres", sys.argv[1])
psycopg.connect(url, connect_timeout=3).close()
PY
then
  echo "PostgreSQL does not answer at ${db_url%/*}." >&2
  echo "  Start it with: pg_ctlcluster --skip-systemctl-redirect \$(ls /etc/postgresql) main start" >&2
  ok=1
fi
if ! .venv/bin/python - "$redis_url" <<'PY' 2>/dev/null
import sys, redis
redis.Redis.from_url(sys.argv[1], socket_connect_timeout=3).ping()
PY
then
  echo "Redis does not answer at $redis_url." >&2
  echo "  Start it with: redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save \"\" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log" >&2
  ok=1
fi
exit $ok
