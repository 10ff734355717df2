#!/usr/bin/env bash
# Build the web portal from webui/ into nni/server/static (the copy shipped in the package).
# Users never run this: the built files are committed. Run it after changing webui/src.
set -euo pipefail
cd "$(dirname "$0")/../webui"
npm ci --no-audit --no-fund --loglevel=error
npx --no-install tsc --noEmit
npx --no-install vite build --logLevel warn
echo "web UI built into nni/server/static"
