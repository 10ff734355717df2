#!/usr/bin/env bash
# Extra "remote machines" for SSH tests: network namespace nni-hN with its own address 10.211.N.2 and
# its own sshd on port 22 (host side 10.211.N.1). Shares the filesystem with this machine.
# usage: testhost.sh up N | down N | cut N | restore N     (run sshd.sh start first: keys and sshd_config)
#   cut N drops the link (the host vanishes without closing connections); restore N brings it back.
set -euo pipefail
BASE=${BASE:-${TMPDIR:-/tmp}/nni-ci}
D=$BASE/ssh; N=${2:?host number 1..250}; NS=nni-h$N
TUSER=${SSH_TEST_USER:-nnitrial}

up() { ssh -q -i "$D/client_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no -o ConnectTimeout=2 \
         -o UserKnownHostsFile="$D/known_hosts" "$TUSER@10.211.$N.2" true 2>/dev/null; }

case "${1:-}" in
up)
  [ -f "$D/sshd_config" ] || { echo "testhost.sh: run sshd.sh start first" >&2; exit 1; }
  if ! ip netns list | grep -qw "$NS"; then
    ip netns add "$NS"
    ip link add "$NS-host" type veth peer name "$NS-ns"
    ip link set "$NS-ns" netns "$NS"
    ip addr add "10.211.$N.1/24" dev "$NS-host"; ip link set "$NS-host" up
    ip netns exec "$NS" ip addr add "10.211.$N.2/24" dev "$NS-ns"
    ip netns exec "$NS" ip link set "$NS-ns" up; ip netns exec "$NS" ip link set lo up
  fi
  ip link set "$NS-host" up
  if [ -f "$D/sshd-$NS.pid" ] && kill -0 "$(cat "$D/sshd-$NS.pid")" 2>/dev/null && up; then
    echo "testhost $NS: already up at 10.211.$N.2"; exit 0
  fi
  sed -e 's/^Port .*/Port 22/' -e "s/^ListenAddress .*/ListenAddress 10.211.$N.2/" \
      -e "s#^PidFile .*#PidFile $D/sshd-$NS.pidfile#" "$D/sshd_config" >"$D/sshd_config_$NS"
  ip netns exec "$NS" /usr/sbin/sshd -D -f "$D/sshd_config_$NS" -E "$D/sshd-$NS.log" </dev/null >/dev/null 2>&1 & echo $! >"$D/sshd-$NS.pid"
  for _ in $(seq 1 50); do up && break; sleep 0.1; done
  up || { echo "testhost.sh: sshd in $NS did not come up; see $D/sshd-$NS.log" >&2; exit 1; }
  echo "testhost $NS: ssh $TUSER@10.211.$N.2 ready" ;;
cut) ip link set "$NS-host" down ;;
restore) ip link set "$NS-host" up ;;
down)
  if [ -f "$D/sshd-$NS.pid" ]; then kill "$(cat "$D/sshd-$NS.pid")" 2>/dev/null || true; rm -f "$D/sshd-$NS.pid"; fi
  # processes still inside (sessions, trials) keep a namespace alive: end them by id
  for p in $(ip netns pids "$NS" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
  ip netns del "$NS" 2>/dev/null || true ;;
*) echo "usage: $0 up|down|cut|restore N" >&2; exit 2 ;;
esac
