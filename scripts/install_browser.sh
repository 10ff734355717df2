#!/usr/bin/env bash
# Debian's Chromium for the Playwright web UI tests (Playwright's own browser download cannot run
# here; the tests launch /usr/bin/chromium). The Python playwright package comes with the test extra.
set -euo pipefail
[ -x /usr/bin/chromium ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "chromium is missing: run 'apt-get install -y chromium' as root (web UI tests will be skipped)" >&2
  exit 0
fi
apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 || {
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends chromium >/dev/null
}
