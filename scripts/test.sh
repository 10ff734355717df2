#!/usr/bin/env bash
# The whole test suite: sets up the virtualenv, the services the tests talk to (sshd, Ray, Slurm,
# Chromium), lints, runs pytest, then one small experiment end to end on Python 3.10 and 3.13.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=test,example,remote,smac source scripts/venv.sh
python -c "import torch" 2>/dev/null || python -m pip install -q torch==2.13.0
for setup in scripts/services/install.sh scripts/install_browser.sh scripts/install_torchvision.sh; do
  [ -f "$setup" ] && bash "$setup"
done
[ -f scripts/check_webui_build.sh ] && bash scripts/check_webui_build.sh
ruff check --no-cache nni tests benchmarks examples scripts
python -m mypy
set +e
python -m pytest -q -p no:cacheprovider "$@"
status=$?
set -e
[ $status -eq 5 ] && { echo "pytest collected no tests" >&2; exit 1; }
[ $status -ne 0 ] && exit $status
# An interpreter for version $1 that really runs (pyenv's shims exist for versions not enabled).
find_python() {
  local candidate
  for candidate in "python$1" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$1".*/bin/python"$1"; do
    if "$candidate" -c "import sys" >/dev/null 2>&1; then echo "$candidate"; return 0; fi
  done
  return 1
}
if [ $# -eq 0 ]; then
  for version in 3.10 3.13; do
    if py=$(find_python "$version"); then
      (PY=$py VENV=$PWD/.venv-py$version EXTRAS= source scripts/venv.sh && python scripts/smoke_experiment.py)
    else
      echo "python$version not found: skipping its end-to-end run" >&2
      [ "${CI:-}" = true ] && exit 1
    fi
  done
fi
