#!/usr/bin/env bash
# A private OpenSSH server on 127.0.0.1 for the remote training service's tests (needs root).
# usage: sshd.sh start|stop|status
#   client key: $BASE/ssh/client_ed25519 ; users: root (key only) and the non-root $SSH_TEST_USER
#   (nnitrial; key, or password $SSH_TEST_PASSWORD)
#   $BASE/remote-venv: a Python any user can run that imports this checkout's nni (the "remote" Python)
# Adapted from the project's CI recipes: sshd needs /run/sshd and its absolute path, keys under /tmp
# need `StrictModes no`, and a non-root user because root sessions cannot receive SSH signals.
set -euo pipefail
BASE=${BASE:-${TMPDIR:-/tmp}/nni-ci}
D=$BASE/ssh
PORT=${SSH_TEST_PORT:-2222}
TUSER=${SSH_TEST_USER:-nnitrial}
TPASS=${SSH_TEST_PASSWORD:-nni-test-password}
REPO=$(cd "$(dirname "$0")/../.." && pwd)

up() { ssh -q -i "$D/client_ed25519" -p "$PORT" -o BatchMode=yes -o StrictHostKeyChecking=no \
         -o UserKnownHostsFile="$D/known_hosts" -o ConnectTimeout=2 "$TUSER@127.0.0.1" true 2>/dev/null; }

case "${1:-}" in
start)
  [ -x /usr/sbin/sshd ] || { echo "sshd.sh: /usr/sbin/sshd missing; run scripts/services/install.sh" >&2; exit 1; }
  mkdir -p "$D"
  [ -f "$D/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$D/host_ed25519"
  [ -f "$D/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C nni-ci -f "$D/client_ed25519"
  cp "$D/client_ed25519.pub" "$D/authorized_keys"; chmod 600 "$D/authorized_keys"
  if ! id "$TUSER" >/dev/null 2>&1; then useradd -m -d "$D/home-$TUSER" -s /bin/bash "$TUSER"; fi
  # useradd leaves the account locked and sshd (UsePAM no) refuses it; a password unlocks it and
  # lets the tests try password authentication
  echo "$TUSER:$TPASS" | chpasswd
  HOME_T=$(getent passwd "$TUSER" | cut -d: -f6)
  install -d -o "$TUSER" -g "$TUSER" -m 700 "$HOME_T/.ssh"
  install -o "$TUSER" -g "$TUSER" -m 600 "$D/client_ed25519.pub" "$HOME_T/.ssh/authorized_keys"
  # the project's own venv may live under a private home (/root): remote users get a venv of the
  # system Python whose .pth points at this checkout, like an editable install
  if [ ! -x "$BASE/remote-venv/bin/python3" ]; then
    /usr/bin/python3 -m venv --without-pip "$BASE/remote-venv"
  fi
  "$BASE/remote-venv/bin/python3" -c 'import site; print(site.getsitepackages()[0])' | {
    read -r sp; echo "$REPO" >"$sp/nni-checkout.pth"; }
  chmod -R a+rX "$BASE/remote-venv"
  if [ -f "$D/sshd.pid" ] && kill -0 "$(cat "$D/sshd.pid")" 2>/dev/null && up; then
    echo "sshd: already up on 127.0.0.1:$PORT (pid $(cat "$D/sshd.pid"))"; exit 0
  fi
  cat >"$D/sshd_config" <<CONF
Port $PORT
ListenAddress 127.0.0.1
HostKey $D/host_ed25519
PidFile $D/sshd.pidfile
AuthorizedKeysFile $D/authorized_keys .ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
MaxStartups 50:30:100
LogLevel VERBOSE
CONF
  install -d -m 0755 /run/sshd
  /usr/sbin/sshd -t -f "$D/sshd_config"
  /usr/sbin/sshd -D -f "$D/sshd_config" -E "$D/sshd.log" </dev/null >/dev/null 2>&1 & echo $! >"$D/sshd.pid"
  for _ in $(seq 1 50); do up && break; sleep 0.1; done
  up || { echo "sshd.sh: sshd did not come up; see $D/sshd.log" >&2; exit 1; }
  echo "sshd: up on 127.0.0.1:$PORT (pid $(cat "$D/sshd.pid"))" ;;
stop)
  if [ -f "$D/sshd.pid" ]; then kill "$(cat "$D/sshd.pid")" 2>/dev/null || true; rm -f "$D/sshd.pid"; fi ;;
status)
  up && echo "sshd: up on 127.0.0.1:$PORT" || { echo "sshd: down"; exit 1; } ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
