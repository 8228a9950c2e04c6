#!/usr/bin/env bash
# Installs the Debian packages crescendo builds, tests and demos with, and only those missing.
# Idempotent: a second run finds everything present and does nothing. Needs root or sudo for apt.
set -euo pipefail

build_pkgs=(cmake make gcc pkg-config libdnnl-dev libturbojpeg0-dev libpng-dev libjansson-dev libyaml-dev)
test_pkgs=(python3 python3-torch python3-torchvision python3-numpy python3-pil)
demo_pkgs=(dataset-fashion-mnist)

want=("${build_pkgs[@]}")
case "${1:-all}" in
  build) ;;
  test)  want+=("${test_pkgs[@]}") ;;
  demo)  want+=("${demo_pkgs[@]}") ;;
  all)   want+=("${test_pkgs[@]}" "${demo_pkgs[@]}") ;;
  *) echo "usage: $0 [build|test|demo|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
