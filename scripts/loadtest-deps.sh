#!/usr/bin/env bash
# What `make loadtest` needs beyond `make test`: wrk and nginx (Debian packages; installed when
# missing, with root or passwordless sudo, else it says what to install), and the load test's
# own PostgreSQL database, created when missing (never point it at a real one).
set -euo pipefail
db_url=$1
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
source "$(dirname "$0")/apt-install.sh"
apt_install "${missing[@]}"
.venv/bin/python - "$db_url" <<'PY'
import re, sys
import psycopg
url = sys.argv[1]
name = url.rsplit("/", 1)[1]
with psycopg.connect(re.sub(r"/[^/]*$", "/postgres", url), autocommit=True) as conn:
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
        conn.execute(f'CREATE DATABASE "{name}"')
        print(f"Created database {name}.")
PY
