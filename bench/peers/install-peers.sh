#!/bin/sh
# Makes sure the peers of make bench-peers are installed: Debian's
# zookeeper (its jars) and etcd-server (its binary), installed as root with
# apt-get when missing, the package lists updated first if need be. The
# harness runs their programs itself: the packages' services must not
# run, so none is started during the installation (a policy-rc.d that
# refuses, unless one is there already), and under systemd the services
# of packages installed here are stopped and disabled.
set -eu

need=""
[ -f /usr/share/java/zookeeper.jar ] || need="$need zookeeper"
command -v etcd >/dev/null 2>&1 || need="$need etcd-server"
command -v java >/dev/null 2>&1 || need="$need default-jre-headless"
[ -z "$need" ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
	echo "bench-peers needs:$need (as root on Debian: apt-get install$need)" >&2
	exit 1
fi
echo "installing Debian's$need" >&2
added=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\n# bench-peers: no service starts while it installs packages\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	added=1
fi
trap '[ -z "$added" ] || rm -f /usr/sbin/policy-rc.d' EXIT
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086 # $need is a list of package names
apt-get install -y -qq --no-install-recommends $need >/dev/null 2>&1 ||
	{ apt-get update -qq && apt-get install -y -qq --no-install-recommends $need >/dev/null; }

if [ -d /run/systemd/system ]; then
	for s in zookeeper etcd; do
		case "$need" in *"$s"*) systemctl disable --now "$s" >/dev/null 2>&1 || true ;; esac
	done
fi
