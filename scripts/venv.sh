# Sourced by the other scripts: make (once) and activate the virtualenv VENV for interpreter PY,
# installing this package with the extras in EXTRAS. Re-running only installs what changed.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PY:-python3.11}
VENV=${VENV:-$ROOT/.venv}
EXTRAS=${EXTRAS:-}
if ! command -v "$PY" >/dev/null 2>&1; then
  echo "error: $PY not found; install Python 3.10-3.13 or set PY=/path/to/python" >&2
  exit 1
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
# shellcheck disable=SC1091
source "$VENV/bin/activate"
stamp="$VENV/.installed-$(cat "$ROOT/pyproject.toml" | sha1sum | cut -c1-12)-${EXTRAS//[^a-z,]/}"
if [ ! -f "$stamp" ]; then
  python -m pip install -q --upgrade pip
  spec="$ROOT"
  [ -n "$EXTRAS" ] && spec="$ROOT[$EXTRAS]"
  # pyproject's package-dir makes this editable install a plain path entry: `import nni` pays for no import hook
  python -m pip install -q -e "$spec"
  touch "$stamp"
fi
