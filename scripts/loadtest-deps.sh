#!/usr/bin/env bash
# What `make loadtest` needs beyond `make test`: wrk and nginx (Debian packages; installed when
# missing, with root or passwordless sudo, else it says what to install), and the load test's
# own PostgreSQL database, created when missing (never point it at a real one).
set -euo pipefail
db_url=$1
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
      echo "Please install these Debian packages: ${missing[*]} (apt-get install ${missing[*]})" >&2
      exit 1
    fi
  fi
  echo "Installing ${missing[*]} ..."
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # Only the binaries: the package's own nginx service is not started for us.
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
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
