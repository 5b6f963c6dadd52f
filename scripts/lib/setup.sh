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

ensure_postgres() {
  # PostgreSQL on 127.0.0.1:5432 (trust auth); start the local cluster if it is not answering.
  if .venv/bin/python - <<'PY' 2>/dev/null; then return 0; fi
import socket, sys
with socket.socket() as s:
    s.settimeout(1)
    sys.exit(s.connect_ex(("127.0.0.1", 5432)))
PY
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "setup: starting PostgreSQL" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start >&2 || true
  fi
}
