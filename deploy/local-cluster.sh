#!/usr/bin/env bash
# Starts (or stops) a local Warden cluster for trying it by hand: three
# servers and two replicas, each on its own loopback address with the
# default ports. State lives in .cluster/ under the repository.
#
#   deploy/local-cluster.sh start   # prints each agent's socket
#   deploy/local-cluster.sh stop
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/.cluster"
bin="$root/bin/warden"
servers=(127.0.0.11 127.0.0.12 127.0.0.13)
replicas=(127.0.0.21 127.0.0.22)

start_agent() { # name ip extra-args...
  local name=$1 ip=$2; shift 2
  mkdir -p "$dir/$name"
  "$bin" agent --node "$name" --bind "$ip" --http-bind "$ip" --join "${servers[0]}" \
    --data-dir "$dir/$name/data" --socket "$dir/$name.sock" "$@" \
    >"$dir/$name/agent.log" 2>&1 &
  echo $! >"$dir/$name/pid"
}

wait_socket() { # name
  local sock="$dir/$1.sock"
  for _ in $(seq 1 300); do
    "$bin" status --socket "$sock" --op-timeout 1s >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "agent $1 did not come up; see $dir/$1/agent.log" >&2
  return 1
}

case "${1:-start}" in
start)
  [ -x "$bin" ] || { echo "build first: make build" >&2; exit 1; }
  if compgen -G "$dir/*/pid" >/dev/null; then
    echo "a cluster seems to be running already (make cluster-stop first)" >&2
    exit 1
  fi
  mkdir -p "$dir"
  for i in "${!servers[@]}"; do
    start_agent "server$((i + 1))" "${servers[$i]}" --server --bootstrap-expect 3
  done
  for i in "${!replicas[@]}"; do
    start_agent "replica$((i + 1))" "${replicas[$i]}"
  done
  names=(server1 server2 server3 replica1 replica2)
  for n in "${names[@]}"; do wait_socket "$n"; done
  "$bin" members --socket "$dir/server1.sock"
  echo
  for n in "${names[@]}"; do echo "$n: WARDEN_SOCKET=$dir/$n.sock"; done
  echo
  echo "try: WARDEN_SOCKET=$dir/replica1.sock $bin lock /demo -- echo held"
  ;;
stop)
  for p in "$dir"/*/pid; do
    [ -f "$p" ] || continue
    kill "$(cat "$p")" 2>/dev/null || true
  done
  for p in "$dir"/*/pid; do
    [ -f "$p" ] || continue
    pid=$(cat "$p")
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$p"
  done
  rm -rf "$dir"
  echo "cluster stopped"
  ;;
*)
  echo "usage: $0 start|stop" >&2
  exit 2
  ;;
esac
