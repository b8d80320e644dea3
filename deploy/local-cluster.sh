#!/usr/bin/env bash
# A local Warden cluster for trying things by hand, failures included:
# servers and replicas on loopback addresses of their own with the default
# ports, each agent started, stopped, killed or restarted by name.
#
#   deploy/local-cluster.sh start [SERVERS [REPLICAS]]  # default 3 2; prints the state dir and sockets
#   deploy/local-cluster.sh status                      # each agent, the members, the leader
#   deploy/local-cluster.sh stop NAME                   # SIGTERM one agent (its data stays)
#   deploy/local-cluster.sh kill NAME                   # SIGKILL one agent
#   deploy/local-cluster.sh restart NAME...             # (stop and) start agents on their data
#   deploy/local-cluster.sh stop-all                    # stop every agent, keep the state
#   deploy/local-cluster.sh down                        # stop every agent, delete the state
#
# Servers are server1.. on NET.11.., replicas replica1.. on NET.21..; NET is
# 127.0.0 unless WARDEN_CLUSTER_NET says otherwise. The state (data dirs,
# sockets, logs) lives in WARDEN_CLUSTER_DIR, by default .cluster/ in the
# repository. WARDEN_BIN picks the binary (default bin/warden).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${WARDEN_CLUSTER_DIR:-$root/.cluster}
bin=${WARDEN_BIN:-$root/bin/warden}
net=${WARDEN_CLUSTER_NET:-127.0.0}
# How long one agent may take to answer on its socket, and the cluster to
# have a leader, in tenths of a second.
wait_tenths=${WARDEN_CLUSTER_WAIT:-300}

starting=
die() {
  echo "local-cluster: $*" >&2
  [ -z "$starting" ] || echo "local-cluster: start failed; '$0 down' stops what it started" >&2
  exit 1
}

usage() {
  sed -n '/^#   deploy/s/^#   //p' "$0" >&2
  exit 2
}

# names lists the cluster's agents, servers first.
names() { cat "$dir/names"; }

known() { # name
  [ -f "$dir/names" ] || die "no cluster in $dir (start one first)"
  grep -qx "$1" "$dir/names" || die "no agent named $1 (agents: $(names | tr '\n' ' '))"
}

# is_agent pid name: whether pid is that agent's process, not a process
# that got its pid after the agent died (its command line names the agent's
# data dir; where /proc is missing, any live process passes).
is_agent() {
  kill -0 "$1" 2>/dev/null || return 1
  [ -r "/proc/$1/cmdline" ] || return 0
  tr '\0' '\n' <"/proc/$1/cmdline" | grep -qxF -- "$dir/$2/data"
}

pid_of() { # name: prints the pid of a running agent, or fails
  local f="$dir/$1/pid" pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [[ $pid =~ ^[0-9]+$ ]] && is_agent "$pid" "$1" || return 1
  echo "$pid"
}

# stale_pid name: prints the pid a stale pid file names (its agent is not
# running), or fails when there is no pid file or its agent runs.
stale_pid() {
  local f="$dir/$1/pid"
  [ -f "$f" ] && ! pid_of "$1" >/dev/null || return 1
  cat "$f"
}

# refuse_start explains why start will not run over what is in $dir.
refuse_start() {
  local n pid running=() stale=() stopped=()
  if [ -f "$dir/names" ]; then
    for n in $(names); do
      if pid=$(pid_of "$n"); then running+=("$n (pid $pid)")
      elif pid=$(stale_pid "$n"); then stale+=("$n (pid $pid)")
      else stopped+=("$n"); fi
    done
  else
    for f in "$dir"/*/pid; do
      n=$(basename "$(dirname "$f")")
      if pid=$(pid_of "$n"); then running+=("$n (pid $pid)"); else stale+=("$n (pid $(cat "$f"))"); fi
    done
  fi
  local msg="a cluster is already in $dir"
  [ ${#running[@]} -eq 0 ] || msg+=$'\n'"  running: ${running[*]}"
  [ ${#stale[@]} -eq 0 ] || msg+=$'\n'"  stale pid files (those agents are dead): ${stale[*]}"
  [ ${#stopped[@]} -eq 0 ] || msg+=$'\n'"  stopped: ${stopped[*]}"
  if [ ${#running[@]} -gt 0 ]; then
    msg+=$'\n'"'$0 status' shows it; '$0 down' (make cluster-stop) stops it and deletes its state"
  else
    msg+=$'\n'"none of its agents runs: '$0 restart $(names 2>/dev/null | tr '\n' ' ' | sed 's/ $//')' starts them again on their data; '$0 down' (make cluster-stop) deletes the state"
  fi
  die "$msg"
}

launch() { # name: starts the agent with the arguments it was created with
  local name=$1 args
  mapfile -t args <"$dir/$name/args"
  "$bin" agent "${args[@]}" >>"$dir/$name/agent.log" 2>&1 &
  echo $! >"$dir/$name/pid"
}

create() { # name ip extra-args...: records an agent's arguments and starts it
  local name=$1 ip=$2; shift 2
  mkdir -p "$dir/$name"
  local joins=() s
  for s in $(seq 1 "$(cat "$dir/servers")"); do
    [ "$net.$((10 + s))" = "$ip" ] || joins+=(--join "$net.$((10 + s))")
  done
  printf '%s\n' --node "$name" --bind "$ip" --http-bind "$ip" "${joins[@]}" \
    --data-dir "$dir/$name/data" --socket "$dir/$name.sock" "$@" >"$dir/$name/args"
  echo "$name" >>"$dir/names"
  launch "$name"
}

wait_socket() { # name
  local i
  for ((i = 0; i < wait_tenths; i++)); do
    "$bin" status --socket "$dir/$1.sock" --op-timeout 1s >/dev/null 2>&1 && return 0
    pid_of "$1" >/dev/null || die "agent $1 exited; see $dir/$1/agent.log"
    sleep 0.1
  done
  die "agent $1 runs but did not answer on its socket in $((wait_tenths / 10)) s (an agent answers once it has caught up with a leader, so a quorum of servers must run: restart several at once, e.g. '$0 restart $(names | grep '^server' | tr '\n' ' ' | sed 's/ $//')'); see $dir/$1/agent.log"
}

# leader prints the leader as the running agent it asks sees it, or fails.
leader() {
  local n out
  for n in $(names); do
    pid_of "$n" >/dev/null || continue
    out=$("$bin" status --json --socket "$dir/$n.sock" --op-timeout 1s 2>/dev/null) || continue
    out=$(sed -n 's/^ *"leader": *"\([^"]*\)".*/\1/p' <<<"$out")
    [ -n "$out" ] && { echo "$out"; return 0; }
  done
  return 1
}

wait_leader() {
  local i
  for ((i = 0; i < wait_tenths; i++)); do
    leader >/dev/null && return 0
    sleep 0.1
  done
  die "no leader after $((wait_tenths / 10)) s; see the logs in $dir"
}

stop_one() { # name signal
  local name=$1 sig=$2 pid i
  pid=$(pid_of "$name") || { rm -f "$dir/$name/pid"; echo "$name is not running"; return 0; }
  kill "-$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "$name did not stop in 5 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  rm -f "$dir/$name/pid"
  echo "$name ($sig) stopped"
}

stop_all() {
  local n
  [ -f "$dir/names" ] || return 0
  # Replicas first, then the servers: the last servers keep a quorum for
  # the others' leaving.
  for n in $(names | tac); do stop_one "$n" TERM; done
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
start)
  servers=${1:-3} replicas=${2:-2}
  [[ $servers =~ ^[1-9]$ ]] || die "servers: want 1 to 9, not '$servers'"
  [[ $replicas =~ ^[0-9]+$ ]] && [ "$replicas" -le 79 ] || die "replicas: want 0 to 79, not '$replicas'"
  [ -x "$bin" ] || die "no binary at $bin (make build)"
  if [ -e "$dir/names" ] || compgen -G "$dir/*/pid" >/dev/null; then refuse_start; fi
  mkdir -p "$dir"
  echo "$servers" >"$dir/servers"
  : >"$dir/names"
  starting=1
  for ((i = 1; i <= servers; i++)); do
    create "server$i" "$net.$((10 + i))" --server --bootstrap-expect "$servers"
  done
  for ((i = 1; i <= replicas; i++)); do
    create "replica$i" "$net.$((20 + i))"
  done
  for n in $(names); do wait_socket "$n"; done
  wait_leader
  starting=
  echo "state: $dir"
  "$bin" members --socket "$dir/server1.sock"
  echo
  for n in $(names); do echo "$n: WARDEN_SOCKET=$dir/$n.sock"; done
  echo
  echo "try: WARDEN_SOCKET=$dir/$(names | tail -1).sock $bin lock /demo -- echo held"
  ;;
status)
  [ -f "$dir/names" ] || die "no cluster in $dir"
  echo "state: $dir"
  any=
  for n in $(names); do
    if pid=$(pid_of "$n"); then
      printf '%-10s %-14s running (pid %s)\n' "$n" "$(sed -n '4p' "$dir/$n/args")" "$pid"
      any=${any:-$n}
    elif pid=$(stale_pid "$n"); then
      printf '%-10s %-14s dead (stale pid file: pid %s is not running it; restart %s)\n' "$n" "$(sed -n '4p' "$dir/$n/args")" "$pid" "$n"
    else
      printf '%-10s %-14s stopped\n' "$n" "$(sed -n '4p' "$dir/$n/args")"
    fi
  done
  [ -n "$any" ] || exit 0
  echo
  "$bin" members --socket "$dir/$any.sock" --op-timeout 5s || true
  echo
  if l=$(leader); then echo "leader: $l"; else echo "leader: none"; exit 1; fi
  ;;
stop | kill)
  if [ "$cmd" = stop ] && [ $# -eq 0 ]; then
    # Bare `stop`, as before: the whole cluster, state included.
    exec "$0" down
  fi
  [ $# -eq 1 ] || usage
  known "$1"
  if [ "$cmd" = kill ]; then stop_one "$1" KILL; else stop_one "$1" TERM; fi
  ;;
restart)
  # Several at once when a quorum of servers is down: an agent answers on
  # its socket only once it has caught up with a leader.
  [ $# -ge 1 ] || usage
  for n in "$@"; do known "$n"; done
  for n in "$@"; do
    stop_one "$n" TERM >/dev/null
    launch "$n"
  done
  for n in "$@"; do
    wait_socket "$n"
    echo "$n restarted (pid $(cat "$dir/$n/pid"))"
  done
  ;;
stop-all)
  stop_all
  ;;
down)
  stop_all
  # Nothing but a cluster's own directory is deleted.
  if [ -f "$dir/names" ]; then rm -rf "$dir"; fi
  echo "cluster down"
  ;;
*)
  usage
  ;;
esac
