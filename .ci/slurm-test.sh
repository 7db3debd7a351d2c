#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine (issue 17): submit the array
# job of shards and the dependent merge job through `isingscope slurm ...
# --submit`, wait for them, and compare the merged output with a
# single-machine run byte for byte (ML fit and state space).
#
# Usage: .ci/slurm-test.sh [PATH/TO/isingscope]   (default target/debug/isingscope)
# Needs root and apt-get (Debian 12: slurm-wlm 22.05, munge), no systemd.
# Prints "PASS: ..." and exits 0, "FAIL: ..." and exits 1, or, when SLURM
# cannot be set up here, "skipped: ..." and exits 0 -- a skip is never a pass.
# Recipe: ../shared/spec/slurm-one-node.md. Daemons we start are stopped by
# their PIDs (pid files), never by name.
set -uo pipefail
cd "$(dirname "$0")/.."

BIN="$(realpath "${1:-target/debug/isingscope}")"
[ -x "$BIN" ] || { echo "FAIL: no binary at $BIN (build it first: cargo build)"; exit 1; }

skip() { echo "skipped: $*"; exit 0; }

[ "$(id -u)" = "0" ] || skip "needs root to run munged/slurmd"
if ! command -v sbatch >/dev/null || ! command -v slurmctld >/dev/null \
  || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  command -v apt-get >/dev/null || skip "slurm-wlm/munge missing and no apt-get"
  echo "installing slurm-wlm munge"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge) \
    >/tmp/slurm-test-apt.log 2>&1 || skip "apt-get install slurm-wlm munge failed (log /tmp/slurm-test-apt.log)"
fi

S="$(mktemp -d /tmp/slurm-test.XXXXXX)"
chmod 755 "$S"
HOST="$(hostname -s)"
PIDS=()
cleanup() {
  for f in "$S/slurmd.pid" "$S/slurmctld.pid" "$S/munge/munged.pid"; do
    if [ -s "$f" ]; then
      pid="$(cat "$f")"
      kill "$pid" 2>/dev/null
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null
    fi
  done
  # Keep the scratch folder (logs) after a failure; remove it after a pass.
  [ "${PASSED:-0}" = 1 ] && rm -rf "$S"
}
trap cleanup EXIT

# 1. Munge: our own daemon on our own socket (no clash with a system one).
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 2>/dev/null
  chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
fi
mkdir -p "$S/munge" && chown munge:munge "$S/munge" && chmod 755 "$S/munge"
SOCK="$S/munge/munge.socket"
su -s /bin/sh munge -c "/usr/sbin/munged --socket=$SOCK --pid-file=$S/munge/munged.pid --log-file=$S/munge/munged.log --seed-file=$S/munge/seed" \
  || skip "munged did not start (log $S/munge/munged.log)"
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
munge -S "$SOCK" -n | unmunge -S "$SOCK" | grep -q 'STATUS: *Success' || skip "munge does not work here"

# 2. slurm.conf on free ports (another SLURM on this machine keeps its own).
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("",0)); print(s.getsockname()[1])'; }
CPUS="$(nproc)"
MEM=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 512 ))
mkdir -p "$S/state" "$S/spool"
cat >"$S/slurm.conf" <<EOF
ClusterName=local
SlurmctldHost=$HOST
SlurmctldPort=$(port)
SlurmdPort=$(port)
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$SOCK
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/ctld.log
SlurmdLogFile=$S/d.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=main Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$S/slurm.conf"

# 3. Daemons.
slurmctld -f "$SLURM_CONF" || skip "slurmctld did not start (log $S/ctld.log)"
slurmd -f "$SLURM_CONF" || skip "slurmd did not start (log $S/d.log)"
for _ in $(seq 60); do
  sinfo -h -o %T 2>/dev/null | grep -q idle && break
  sleep 1
done
sinfo -h -o %T 2>/dev/null | grep -q idle || skip "the node never became idle (logs in $S)"
echo "one-node SLURM up: $(sinfo -h -o '%P %D %T %c')"

fail() { echo "FAIL: $*"; for f in ctld.log d.log; do echo "--- $f"; tail -20 "$S/$f"; done; exit 1; }

# Wait for job ids to leave the queue (accounting is off: no sacct).
wait_jobs() {
  for _ in $(seq 600); do
    [ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && return 0
    sleep 1
  done
  return 1
}

# Submit, wait, compare. $1 = slurm subcommand, $2 = raster, $3 = single-run
# folder, $4 = K, rest = files to compare, after "--" shard options.
run_case() {
  local what="$1" raster="$2" single="$3" k="$4"; shift 4
  local files=() opts=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do files+=("$1"); shift; done
  [ $# -gt 0 ] && shift && opts=("$@")
  local job="$S/job-$what"
  local out
  out="$("$BIN" slurm "$what" "$raster" --shards "$k" --time 00:10:00 --out "$job" --submit -- "${opts[@]}")" \
    || fail "isingscope slurm $what --submit"
  echo "$out"
  local ids
  ids="$(echo "$out" | grep -o 'job [0-9]*' | awk '{print $2}' | paste -sd,)"
  [ -n "$ids" ] || fail "no job ids in: $out"
  wait_jobs "$ids" || fail "jobs $ids still queued after 10 minutes"
  for f in "${files[@]}"; do
    [ -f "$job/merged/$f" ] || { cat "$job"/slurm/*.log 2>/dev/null | tail -20; fail "$what: merged/$f missing"; }
    cmp -s "$single/$f" "$job/merged/$f" || fail "$what: merged/$f differs from the single-machine run"
  done
  echo "ok: $what, $k shards through SLURM, byte-identical: ${files[*]}"
}

"$BIN" simulate --n 13 --steps 1500 --trials 2 --h0 0.5 --seed 3 --out "$S/sim" >/dev/null || fail "simulate"
"$BIN" fit "$S/sim/spikes.npy" --l2 0.001 --out "$S/single-ml" >/dev/null 2>&1 || fail "single ML fit"
run_case fit "$S/sim/spikes.npy" "$S/single-ml" 3 J.csv H.csv -- --l2 0.001

"$BIN" synth-state-space --n 7 --t 30 --r 40 --seed 1 --out "$S/synth" >/dev/null || fail "synth-state-space"
"$BIN" state-space "$S/synth/spikes.npy" --max-iter 200 --tol 1e-4 --out "$S/single-ss" >/dev/null 2>&1 || fail "single state-space fit"
run_case state-space "$S/synth/spikes.npy" "$S/single-ss" 5 \
  theta_smoothed.npy theta_filtered.npy theta_sd.npy Q.csv evidence.csv entropy_flow.csv neuron_fit.csv -- --max-iter 200 --tol 1e-4

echo "PASS: one-node SLURM array + afterok merge reproduce the single-machine outputs byte for byte"
PASSED=1
