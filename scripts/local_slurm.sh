#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the slurm-marked tests and for trying
# `hydra/launcher=submitit_slurm` by hand:
#
#   scripts/local_slurm.sh up       # install (Debian's slurm-wlm + munge) if missing, start, wait for idle
#   scripts/local_slurm.sh status   # the daemons and `sinfo`
#   scripts/local_slurm.sh down     # stop slurmd, slurmctld and munged
#
# Needs root (apt-get, daemons as root). The node is this host (`hostname -s`) with
# its CPUs (`nproc`) and most of its memory, in one default partition `local`.
# Process tracking is plain Linux (proctrack/linuxproc, task/none): no cgroups, so it
# runs in a container. State, logs and pid files live in $FIVESTEP_SLURM_DIR
# (default /var/spool/fivestep-slurm); the config is /etc/slurm/slurm.conf, written only
# when it is absent or was written by this script. `up` twice is harmless.
set -euo pipefail

STATE=${FIVESTEP_SLURM_DIR:-/var/spool/fivestep-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by fivestep scripts/local_slurm.sh"
HOST=$(hostname -s)

die() { echo "local_slurm: $*" >&2; exit 1; }

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
     && command -v munged >/dev/null && command -v sbatch >/dev/null; then
    return
  fi
  [ "$(id -u)" -eq 0 ] || die "installing slurm-wlm and munge needs root"
  echo "local_slurm: installing Debian's slurm-wlm and munge"
  apt-get update -qq
  # policy-rc.d-free containers: the packages' own service starts may fail; we start them.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurm-wlm munge >/dev/null
}

write_conf() {
  if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    die "$CONF exists and was not written by this script; not touching it"
  fi
  local cpus mem_mb
  cpus=$(nproc)
  # RealMemory a bit under the machine's, so slurmd never reports less than configured
  mem_mb=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
  mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d"
  cat >"$CONF.tmp" <<EOF
$MARK
ClusterName=fivestep
SlurmctldHost=$HOST
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# a requeued job waits cred_expire seconds before it may start again (default 120)
AuthInfo=cred_expire=10
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
JobRequeue=1
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# quick turnarounds for tests: a finished job leaves the queue within seconds
MinJobAge=30
KillWait=10
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
NodeName=$HOST CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=local Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$CONF.tmp" "$CONF"
}

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_munge() {
  if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null; then
      mungekey --create --keyfile=/etc/munge/munge.key
    else
      dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    fi
  fi
  chown munge:munge /etc/munge/munge.key 2>/dev/null || true
  chmod 0400 /etc/munge/munge.key
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    return  # already running
  fi
  if id munge >/dev/null 2>&1; then
    runuser -u munge -- munged
  else
    munged --force
  fi
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return
    sleep 0.1
  done
  die "munged did not answer"
}

node_state() { sinfo -h -n "$HOST" -o %T 2>/dev/null | head -1 | tr -d '*~#!%$@^-'; }

up() {
  install_packages
  write_conf
  start_munge
  pid_alive "$STATE/slurmctld.pid" || slurmctld
  for _ in $(seq 100); do scontrol ping >/dev/null 2>&1 && break; sleep 0.2; done
  scontrol ping >/dev/null 2>&1 || die "slurmctld did not come up; see $STATE/slurmctld.log"
  pid_alive "$STATE/slurmd.pid" || slurmd
  local state=""
  for _ in $(seq 150); do
    state=$(node_state)
    case "$state" in
      idle|mixed|allocated) break ;;
      down|drained|draining|drain) scontrol update nodename="$HOST" state=resume 2>/dev/null || true ;;
    esac
    sleep 0.2
  done
  case "$state" in
    idle|mixed|allocated) ;;
    *) die "node $HOST is '$state', not idle; see $STATE/slurmd.log" ;;
  esac
  echo "local_slurm: up: node $HOST $state, $(nproc) CPUs, partition local (state in $STATE)"
}

stop_pidfile() {  # stop_pidfile NAME FILE
  local pid
  [ -f "$2" ] || return 0
  pid=$(cat "$2")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "local_slurm: $1 ($pid) ignored SIGTERM; killing it" >&2
      kill -KILL "$pid"
    fi
  fi
  rm -f "$2"
}

down() {
  if command -v scancel >/dev/null && scontrol ping >/dev/null 2>&1; then
    scancel --full --quiet --user=root 2>/dev/null || true  # jobs of the tests, if any left
  fi
  stop_pidfile slurmd "$STATE/slurmd.pid"
  stop_pidfile slurmctld "$STATE/slurmctld.pid"
  local munge_pid=/run/munge/munged.pid
  stop_pidfile munged "$munge_pid"
  echo "local_slurm: down"
}

status() {
  local rc=0
  for daemon in slurmctld slurmd; do
    if pid_alive "$STATE/$daemon.pid"; then
      echo "$daemon: running (pid $(cat "$STATE/$daemon.pid"))"
    else
      echo "$daemon: stopped"; rc=3
    fi
  done
  if pid_alive /run/munge/munged.pid; then
    echo "munged: running (pid $(cat /run/munge/munged.pid))"
  else
    echo "munged: stopped"; rc=3
  fi
  if [ $rc -eq 0 ]; then sinfo; fi
  return $rc
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
