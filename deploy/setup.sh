#!/usr/bin/env bash
# Installs the tools make test-deploy uses beyond Go, Python and Node.js:
# systemd-analyze and systemd-sysusers (Debian's systemd) to check the
# unit, podman and runc to run the container image. Needs root and apt
# when something is missing; does nothing when all is there.
set -euo pipefail
need=()
for tool in systemd-analyze:systemd systemd-sysusers:systemd podman:podman runc:runc; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || need+=("${tool##*:}")
done
[ ${#need[@]} -gt 0 ] || exit 0
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "deploy/setup.sh: missing ${need[*]}: install them (as root on Debian: apt-get install ${need[*]})" >&2
  exit 1
fi
echo "deploy/setup.sh: installing Debian's ${need[*]}" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
