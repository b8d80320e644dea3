#!/bin/sh
# Installs what make test-zk needs: Debian's zookeeper (its jars and
# zkCli.sh, never its service) and a Java runtime through
# bench/peers/install-peers.sh, which make bench-peers uses too (it also
# installs etcd-server, which these checks do not use), and Debian's
# maven for the Curator checks. kazoo's venv is made by kazoo/run.sh.
# As root with apt-get when something is missing.
set -eu
here="$(cd "$(dirname "$0")" && pwd)"
"$here/../../bench/peers/install-peers.sh"
command -v mvn >/dev/null 2>&1 && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "test-zk needs maven (as root on Debian: apt-get install maven)" >&2
	exit 1
fi
echo "installing Debian's maven" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends maven >/dev/null 2>&1 ||
	{ apt-get update -qq && apt-get install -y -qq --no-install-recommends maven >/dev/null; }
