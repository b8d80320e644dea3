#!/usr/bin/env bash
# Release artifacts, in DIST (default dist/), as make dist makes them:
#
#   deploy/dist.sh archives  # warden-VERSION-linux-{amd64,arm64}.tar.gz: static binary, README, LICENSE, systemd unit, example config
#   deploy/dist.sh python    # the Python client's wheel and sdist (python -m build, in clients/python/.venv)
#   deploy/dist.sh npm       # the TypeScript client's npm tarball (npm pack, after its build)
#   deploy/dist.sh sums      # SHA256SUMS of everything in DIST
#
# VERSION (default: the latest v* tag without its v, else 0.1.0-dev) names
# the archives and is stamped into the binaries. SOURCE_DATE_EPOCH (default:
# the last commit's time) dates the archives' files, so that the same
# commit gives the same archives.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
dist=${DIST:-dist}
mkdir -p "$dist"
dist=$(cd "$dist" && pwd)
if [ -z "${VERSION:-}" ]; then
  VERSION=$(git describe --tags --match 'v*' 2>/dev/null | sed 's/^v//') || true
  VERSION=${VERSION:-0.1.0-dev}
fi
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}
GO=${GO:-go}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

archives() {
  local stage=$tmp/archives arch name d
  for arch in ${ARCHES:-amd64 arm64}; do
    name=warden-$VERSION-linux-$arch
    d=$stage/$name
    mkdir -p "$d"
    CGO_ENABLED=0 GOOS=linux GOARCH=$arch "$GO" build -trimpath \
      -ldflags "-s -w -X github.com/warden-dev/warden/agent.Version=$VERSION" -o "$d/warden" ./cmd/warden
    cp README.md "$d/"
    if [ -f LICENSE ]; then cp LICENSE "$d/"; fi
    cp deploy/systemd/warden.service deploy/systemd/warden.sysusers deploy/systemd/warden.env "$d/"
    chmod 0755 "$d/warden"
    chmod 0644 "$d"/*.* "$d"/LICENSE 2>/dev/null || true
    tar -C "$stage" --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
      -cf - "$name" | gzip -n >"$dist/$name.tar.gz"
    echo "$dist/$name.tar.gz"
  done
}

python_dist() {
  local here=clients/python work=$tmp/python
  # The same virtualenv as the Python tests (clients/python/test.sh).
  if [ ! -x "$here/.venv/bin/python" ]; then
    rm -rf "$here/.venv"
    if ! "${PYTHON:-python3}" -m venv "$here/.venv"; then
      rm -rf "$here/.venv"
      echo "dist.sh: installing Debian's python3-venv" >&2
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
      "${PYTHON:-python3}" -m venv "$here/.venv"
    fi
  fi
  "$here/.venv/bin/python" -m pip install -q --disable-pip-version-check "build>=1" "setuptools>=61" wheel
  # Built from a copy, so that setuptools' build/ and *.egg-info stay out
  # of the source tree.
  mkdir -p "$work"
  tar -C "$here" --exclude=.venv --exclude=__pycache__ --exclude='.*_cache' --exclude='*.egg-info' --exclude=build -cf - . |
    tar -C "$work" -xf -
  if ! "$here/.venv/bin/python" -m build --no-isolation --sdist --wheel --outdir "$dist" "$work" >"$tmp/build.log" 2>&1; then
    cat "$tmp/build.log" >&2
    exit 1
  fi
  ls "$dist"/warden[-_]client-*
}

npm_dist() {
  local tgz
  tgz=$(
    cd clients/typescript
    # As clients/typescript/test.sh: the locked dependencies.
    if [ ! -d node_modules ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
      npm ci --no-audit --no-fund --loglevel=error >&2
    fi
    rm -rf dist
    npx --no-install tsc -p tsconfig.json >&2
    npm pack --silent --pack-destination "$dist"
  )
  echo "$dist/$tgz"
}

sums() {
  (
    cd "$dist"
    rm -f SHA256SUMS
    files=$(find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%f\n' | sort)
    [ -n "$files" ] || { echo "dist.sh: nothing in $dist to sum" >&2; exit 1; }
    # shellcheck disable=SC2086
    sha256sum $files >SHA256SUMS
  )
  echo "$dist/SHA256SUMS"
}

[ $# -gt 0 ] || set -- archives python npm sums
for step in "$@"; do
  case "$step" in
  archives) archives ;;
  python) python_dist ;;
  npm) npm_dist ;;
  sums) sums ;;
  *) echo "usage: $0 [archives] [python] [npm] [sums]" >&2; exit 2 ;;
  esac
done
