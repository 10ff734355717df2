#!/usr/bin/env bash
# CI: rebuild the web portal from source and fail if the shipped build (nni/server/static) differs,
# i.e. someone changed webui/src without running scripts/build_webui.sh. The build is deterministic
# (fixed asset names, locked dependencies), so any difference means stale assets.
set -euo pipefail
cd "$(dirname "$0")/../webui"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
npm ci --no-audit --no-fund --loglevel=error
npx --no-install tsc --noEmit
npx --no-install vite build --logLevel warn --outDir "$out/static" --emptyOutDir
if ! diff -r "$out/static" ../nni/server/static >"$out/diff.txt"; then
  echo "error: nni/server/static is stale: run scripts/build_webui.sh and commit the result" >&2
  head -20 "$out/diff.txt" >&2
  exit 1
fi
echo "web UI build is up to date"
