#!/usr/bin/env bash
# Runs kazoo's recipe checks (pytest) against ZK_HOSTS
# ("ip:port,ip:port,..."); ZK_CONTROL, when set, is the harness's control
# URL for the failover test (systest/zkcompat, TestKazoo starts both).
# Creates .venv here (kazoo from PyPI) when missing. PYTHON picks the
# interpreter for a new .venv.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
: "${ZK_HOSTS:?ZK_HOSTS must name the servers, e.g. 127.0.0.1:2181}"
if [ ! -x .venv/bin/python ] || ! cmp -s requirements.txt .venv/requirements.txt; then
	rm -rf .venv
	if ! "${PYTHON:-python3}" -m venv .venv; then
		# Debian's python3 leaves venv (ensurepip) to a package of its own.
		rm -rf .venv
		echo "run.sh: installing Debian's python3-venv" >&2
		apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
		"${PYTHON:-python3}" -m venv .venv
	fi
	.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
	cp requirements.txt .venv/requirements.txt
fi
exec .venv/bin/python -m pytest -p no:cacheprovider --timeout=120 "$@" tests
