#!/usr/bin/env bash
# The main job: the seed's example experiment (5 real trials of a small CNN on the 8x8 digits),
# watchable at http://localhost:8081 while it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=example source scripts/venv.sh
python -c "import torch" 2>/dev/null || python -m pip install -q torch==2.13.0
cd examples/mnist
python launch.py
# the page ends with the script: say how to bring it back (nnictl lives in the virtualenv)
echo
echo "The web portal closed with the experiment. To reopen it, run the 'Reopen the web portal' command above"
echo "after activating the virtualenv:  source $VENV/bin/activate"
