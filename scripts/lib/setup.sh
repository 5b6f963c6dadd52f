# Shared set-up for scripts/demo and scripts/test: a virtualenv with meterbridge installed.
# Safe to run again: it reinstalls only when pyproject.toml changed.

find_python() {
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "meterbridge needs Python 3.11 or newer on PATH" >&2
  return 1
}

ensure_venv() {
  local python stamp
  if [ ! -x .venv/bin/python ]; then
    python=$(find_python)
    echo "setup: creating .venv with $python" >&2
    "$python" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip >&2
  fi
  stamp=".venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
  if [ ! -f "$stamp" ]; then
    echo "setup: installing meterbridge and its development tools into .venv" >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' >&2
    rm -f .venv/.installed-*
    touch "$stamp"
  fi
}

pg_answers() {
  .venv/bin/python - <<'PY' 2>/dev/null
import socket, sys
with socket.socket() as s:
    s.settimeout(1)
    sys.exit(s.connect_ex(("127.0.0.1", 5432)))
PY
}

install_postgres() {
  # A fresh Debian machine: PostgreSQL from the Debian packages, trust auth on loopback for the
  # tests' user postgres, and the database "test" they connect to first.
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: PostgreSQL is not installed; install it (Debian: apt-get install postgresql) or run as root" >&2
    return 0
  fi
  echo "setup: installing PostgreSQL from the Debian packages" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  local version hba
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  {
    echo "local all all trust"
    echo "host all all 127.0.0.1/32 trust"
    echo "host all all ::1/128 trust"
  } > "$hba"
}

ensure_postgres() {
  # PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth, database test): installed when the
  # machine has none, started when it is not answering.
  if pg_answers; then return 0; fi
  if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ ! -d /etc/postgresql ] || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    install_postgres
  fi
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "setup: starting PostgreSQL" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n 1)" main start >&2 || true
    for _ in $(seq 1 30); do
      if pg_answers; then break; fi
      sleep 1
    done
    if pg_answers && command -v psql >/dev/null 2>&1; then
      psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" 2>/dev/null |
        grep -q 1 || psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE test" >&2 || true
    fi
  fi
}

ensure_chromium() {
  # The console's browser tests drive Debian's Chromium (never a browser download).
  if [ -x /usr/bin/chromium ]; then return 0; fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: /usr/bin/chromium is missing; install it (Debian: apt-get install chromium) or run as root" >&2
    return 0
  fi
  echo "setup: installing Chromium from the Debian packages (for the console's browser tests)" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
}
