#!/usr/bin/env bash
# Type-checks and tests the Python client against real agent processes.
# Creates .venv here if missing. Honors WARDEN_BIN (else the tests build the
# agent with `go build`) and PYTHON (the interpreter for a new .venv).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
if [ ! -x .venv/bin/python ]; then
	rm -rf .venv
	if ! "${PYTHON:-python3}" -m venv .venv; then
		# Debian's python3 leaves venv (ensurepip) to a package of its own.
		rm -rf .venv
		echo "test.sh: installing Debian's python3-venv" >&2
		apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
		"${PYTHON:-python3}" -m venv .venv
	fi
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"
.venv/bin/python -m mypy --strict warden
.venv/bin/python -m mypy --strict tests
.venv/bin/python -m pytest -q tests "$@"
