#!/usr/bin/env bash
# Single-node Slurm (Debian bookworm's 22.05: munge, slurmctld, slurmd on 127.0.0.1), no systemd or
# cgroups, for the Slurm service's tests (needs root). Clients need: export SLURM_CONF=$BASE/slurm/slurm.conf
# usage: slurm.sh start|stop|status ; WITH_DBD=1 also runs MariaDB + slurmdbd so that `sacct` works.
set -euo pipefail
BASE=${BASE:-${TMPDIR:-/tmp}/nni-ci}
S=$BASE/slurm
WITH_DBD=${WITH_DBD:-0}
CPUS=${SLURM_NODE_CPUS:-4}   # more than the cores: trials mostly wait, and config_overrides allows it
export SLURM_CONF=$S/slurm.conf
wait_port() { for _ in $(seq 1 100); do (echo >/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }
idle() { sinfo -h -o %T 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; }
running() { [ -f "$S/$1.pid" ] && kill -0 "$(cat "$S/$1.pid")" 2>/dev/null; }

case "${1:-}" in
start)
  command -v slurmctld >/dev/null || { echo "slurm.sh: slurmctld missing; run scripts/services/install.sh" >&2; exit 1; }
  if running slurmctld && running slurmd && idle; then echo "slurm: already up ($SLURM_CONF)"; exit 0; fi
  mkdir -p "$S/state" "$S/spool" "$S/log"
  # munge: its key must exist and its socket folder /run/munge must belong to munge
  [ -s /etc/munge/munge.key ] || { mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null || create-munge-key -f; }
  chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
  install -d -o munge -g munge -m 0755 /run/munge
  if ! running munged; then
    setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged --foreground >"$S/log/munged.out" 2>&1 </dev/null & echo $! >"$S/munged.pid"
  fi
  for _ in $(seq 1 50); do munge -n </dev/null >/dev/null 2>&1 && break; sleep 0.1; done
  ACCT="AccountingStorageType=accounting_storage/none"
  if [ "$WITH_DBD" = 1 ]; then
    [ -d "$S/mysql" ] || mariadb-install-db --user=root --datadir="$S/mysql" --auth-root-authentication-method=socket --skip-test-db >"$S/log/mariadb-install.log" 2>&1
    if ! running mariadb; then
      mariadbd --no-defaults --user=root --datadir="$S/mysql" --socket="$S/mysqld.sock" --port=3307 --bind-address=127.0.0.1 \
        --log-error="$S/log/mariadb.err" --innodb-buffer-pool-size=64M >/dev/null 2>&1 </dev/null & echo $! >"$S/mariadb.pid"
    fi
    for _ in $(seq 1 100); do mariadb --no-defaults -S "$S/mysqld.sock" -u root -e 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
    mariadb --no-defaults -S "$S/mysqld.sock" -u root -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmpw'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
    cat >"$S/slurmdbd.conf" <<CONF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=root
LogFile=$S/log/slurmdbd.log
PidFile=$S/slurmdbd.pidfile
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3307
StorageUser=slurm
StoragePass=slurmpw
StorageLoc=slurm_acct_db
CONF
    chmod 600 "$S/slurmdbd.conf"      # slurmdbd refuses a group/world-readable conf
    running slurmdbd || { slurmdbd -D >"$S/log/slurmdbd.out" 2>&1 </dev/null & echo $! >"$S/slurmdbd.pid"; }
    wait_port 6819
    ACCT=$'AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=127.0.0.1\nAccountingStoragePort=6819'
  fi
  cat >"$S/slurm.conf" <<CONF
ClusterName=nnici
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CryptoType=crypto/munge
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pidfile
SlurmdPidFile=$S/slurmd.pidfile
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
$ACCT
JobCompType=jobcomp/none
MailProg=/bin/true
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SchedulerParameters=${SLURM_SCHED_PARAMS:-bf_interval=1,sched_interval=1}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmdParameters=config_overrides
KillWait=5
MinJobAge=300
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=8000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  [ "$WITH_DBD" = 1 ] && { sacctmgr -i add cluster nnici >/dev/null 2>&1 || true; }
  running slurmctld || { slurmctld -D >"$S/log/slurmctld.out" 2>&1 </dev/null & echo $! >"$S/slurmctld.pid"; }
  running slurmd || { slurmd -D -N localhost >"$S/log/slurmd.out" 2>&1 </dev/null & echo $! >"$S/slurmd.pid"; }
  for _ in $(seq 1 60); do idle && break; sleep 0.5; done
  idle || { echo "slurm.sh: the node never became idle; see $S/log" >&2; exit 1; }
  sinfo -h -o "slurm: partition %P node %N state %T ($SLURM_CONF)" ;;
status)
  running slurmctld && idle && echo "slurm: up" || { echo "slurm: down"; exit 1; } ;;
stop)
  for d in slurmd slurmctld slurmdbd; do [ -f "$S/$d.pid" ] && kill "$(cat "$S/$d.pid")" 2>/dev/null || true; done
  sleep 1
  if [ -f "$S/mariadb.pid" ]; then
    mariadb-admin --no-defaults -S "$S/mysqld.sock" -u root shutdown 2>/dev/null || kill "$(cat "$S/mariadb.pid")" 2>/dev/null || true
  fi
  [ -f "$S/munged.pid" ] && kill "$(cat "$S/munged.pid")" 2>/dev/null || true
  for d in slurmd slurmctld slurmdbd mariadb munged; do
    if [ -f "$S/$d.pid" ]; then p=$(cat "$S/$d.pid"); for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done; kill -9 "$p" 2>/dev/null || true; rm -f "$S/$d.pid"; fi
  done ;;
*) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
