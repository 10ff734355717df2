#!/usr/bin/env bash
# Installs what the remote, Ray and Slurm training services' tests start: OpenSSH server and client,
# iproute2 (network namespaces), Slurm + munge, and Ray in the active Python. Idempotent and quick
# when everything is there. usage: bash scripts/services/install.sh
#   Python packages go to $PYTHON, else the active virtualenv, else this checkout's .venv.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
if [ -n "${PYTHON:-}" ]; then PY=$PYTHON
elif [ -n "${VIRTUAL_ENV:-}" ]; then PY=$VIRTUAL_ENV/bin/python
elif [ -x "$REPO/.venv/bin/python" ]; then PY=$REPO/.venv/bin/python
else echo "install.sh: no virtualenv found; set PYTHON=/path/to/venv/bin/python" >&2; exit 1
fi
PKGS="openssh-server openssh-client iproute2 slurm-wlm munge"
missing=
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install.sh: not root, cannot apt-get install$missing (the tests needing them will skip)" >&2
  else
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1 || {
      apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends $missing >/dev/null; }
    echo "install.sh: installed$missing"
  fi
fi
has() { "$PY" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$1') is None)" 2>/dev/null; }
has asyncssh && has bcrypt || "$PY" -m pip install -q "asyncssh[bcrypt]>=2.14"   # bcrypt: passphrase-protected OpenSSH keys
has ray || { "$PY" -m pip install -q "ray[default]>=2.9" && echo "install.sh: installed ray"; }
exit 0
