#!/usr/bin/env bash
# Builds and tests the TypeScript client against real warden agents.
# Honors WARDEN_BIN (else the tests build the agent once with `go build`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

# Install exactly the locked dependencies when node_modules is missing or
# older than the lock file.
if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
npm test --silent
