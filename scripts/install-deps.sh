#!/usr/bin/env bash
# Installs the Debian packages crescendo builds, tests and demos with, and only those missing.
# Idempotent: a second run finds everything present and does nothing. Needs root or sudo for apt.
set -euo pipefail

build_pkgs=(cmake make gcc pkg-config libdnnl-dev libturbojpeg0-dev libpng-dev libjansson-dev libyaml-dev
            libopenmpi-dev openmpi-bin)
test_pkgs=(python3 python3-torch python3-torchvision python3-numpy python3-pil iproute2)
# Used by a test where present, never needed to pass one: chromium renders report.html headless.
# Installed only where the archive this machine knows has it; a missing one fails nothing, and the
# test says that it skipped that part and why.
optional_test_pkgs=(chromium)
demo_pkgs=(dataset-fashion-mnist)

want=("${build_pkgs[@]}")
optional=()
case "${1:-all}" in
  build) ;;
  test)  want+=("${test_pkgs[@]}"); optional+=("${optional_test_pkgs[@]}") ;;
  demo)  want+=("${demo_pkgs[@]}") ;;
  all)   want+=("${test_pkgs[@]}" "${demo_pkgs[@]}"); optional+=("${optional_test_pkgs[@]}") ;;
  *) echo "usage: $0 [build|test|demo|all]" >&2; exit 2 ;;
esac

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# Asked of the package lists already here: apt-get update would need root even when nothing is
# missing.
available() { apt-cache policy "$1" 2>/dev/null | grep -q 'Candidate: [^(]'; }

missing=()
for p in "${want[@]}"; do
  installed "$p" || missing+=("$p")
done
extra=()
for p in "${optional[@]}"; do
  installed "$p" || ! available "$p" || extra+=("$p")
done
[ ${#missing[@]} -eq 0 ] && [ ${#extra[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
for p in "${extra[@]}"; do
  echo "install-deps: installing $p (optional)"
  $sudo apt-get install -y -qq --no-install-recommends "$p" ||
    echo "install-deps: $p could not be installed; the tests that use it skip that part"
done
