#!/usr/bin/env bash
# A 2-node Ray cluster (head + a node with custom resource node_b) for the Ray service's tests (needs root).
# Everything runs inside the network namespace $RAY_NS that has only `lo`: Ray otherwise rewrites
# 127.0.0.1 to the outward address and listens on every interface. Drivers must run inside it too
# (`ip netns exec $RAY_NS ...`, or setns as tests/training_service/conftest.py does).
# usage: ray.sh start|stop|status|kill-node|start-node
#   kill-node: SIGKILL node_b's raylet (the node dies mid-run); start-node: bring node_b back
set -euo pipefail
BASE=${BASE:-${TMPDIR:-/tmp}/nni-ci}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
PY=${RAY_PYTHON:-$REPO/.venv/bin/python}
RAY=$(dirname "$PY")/ray
RAY_TMP=${RAY_TMP:-$BASE/ray-tmp}
NS=${RAY_NS:-nni-ray}
CPUS=${RAY_NODE_CPUS:-2}
export RAY_USAGE_STATS_ENABLED=0
# Ray >= 2.50 turns token auth on for a head with a dashboard and a second `ray start` on the same
# host then fails with InvalidAuthToken; the cluster is reachable only on loopback in its namespace.
export RAY_AUTH_MODE=${RAY_AUTH_MODE:-disabled}
# a dead node is noticed within about 3 s instead of about 30 s
export RAY_health_check_period_ms=${RAY_health_check_period_ms:-1000}
export RAY_health_check_timeout_ms=${RAY_health_check_timeout_ms:-1000}
export RAY_health_check_failure_threshold=${RAY_health_check_failure_threshold:-3}
X="ip netns exec $NS"

alive() {  # at least $1 nodes alive; the port check first, ray.init waits long for a GCS that is not there
  $X bash -c '(echo >/dev/tcp/127.0.0.1/6379) 2>/dev/null' || return 1
  $X "$PY" - "$1" <<'PY' 2>/dev/null
import sys, time, ray
ray.init(address="127.0.0.1:6379", logging_level="ERROR", log_to_driver=False)
for _ in range(120):
    if sum(n["Alive"] for n in ray.nodes()) >= int(sys.argv[1]):
        break
    time.sleep(0.25)
else:
    raise SystemExit(1)
PY
}

node_b_pids() {  # node_b's processes: its raylet (found by its custom resource) and that raylet's children
  for p in $(ip netns pids "$NS" 2>/dev/null); do
    if { tr "\0" " " <"/proc/$p/cmdline"; } 2>/dev/null | grep -q "raylet.*node_b"; then
      echo "$p"; pgrep -P "$p" || true
    fi
  done
}

start_node_b() {
  $X "$RAY" start --address=127.0.0.1:6379 --num-cpus="$CPUS" --resources='{"node_b": 1}' \
      --dashboard-agent-listen-port=52366 --disable-usage-stats >>"$BASE/ray-worker.log" 2>&1
}

case "${1:-}" in
start)
  [ -x "$RAY" ] || { echo "ray.sh: $RAY missing; run scripts/services/install.sh" >&2; exit 1; }
  mkdir -p "$BASE"
  ip netns add "$NS" 2>/dev/null || true
  $X ip link set lo up
  if alive 2; then echo "ray: already up (2 nodes) in netns $NS"; exit 0; fi
  $X "$RAY" start --head --node-ip-address=127.0.0.1 --port=6379 --num-cpus="$CPUS" \
      --include-dashboard=false --temp-dir="$RAY_TMP" --disable-usage-stats >"$BASE/ray-head.log" 2>&1
  start_node_b
  alive 2 || { echo "ray.sh: the second node never joined; see $BASE/ray-*.log" >&2; exit 1; }
  echo "ray: 2 nodes up at 127.0.0.1:6379 in netns $NS" ;;
kill-node)
  for p in $(node_b_pids); do kill -9 "$p" 2>/dev/null || true; done ;;
start-node)
  [ -n "$(node_b_pids)" ] || start_node_b
  alive 2 || { echo "ray.sh: node_b did not rejoin" >&2; exit 1; } ;;
status)
  alive 2 && echo "ray: up" || { echo "ray: down"; exit 1; } ;;
stop)
  # `ray stop` matches processes by name on the whole machine: end only this namespace's, by id
  pids=$(ip netns pids "$NS" 2>/dev/null || true)
  [ -n "$pids" ] && kill $pids 2>/dev/null || true
  for _ in $(seq 1 50); do [ -z "$(ip netns pids "$NS" 2>/dev/null)" ] && break; sleep 0.1; done
  pids=$(ip netns pids "$NS" 2>/dev/null || true)
  [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true ;;
*) echo "usage: $0 start|stop|status|kill-node|start-node" >&2; exit 2 ;;
esac
