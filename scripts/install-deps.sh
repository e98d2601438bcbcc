#!/usr/bin/env bash
# Installs what agentplane needs to build, test and benchmark, from Debian 12 packages and the
# npm registry only. Idempotent: it asks apt for a package only when dpkg says it is missing, so
# `make` can call it every time at the cost of one dpkg query.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev libboost-system1.81-dev
  libssl-dev libyaml-cpp-dev libre2-dev libhiredis-dev libsqlite3-dev sqlite3 zlib1g-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev libjemalloc-dev
  clang-14 libclang-rt-14-dev
  nodejs npm
  nginx-light wrk redis-server prometheus curl procps openssl python3 chromium
)

missing=()
for p in "${packages[@]}"; do
  # nodejs/npm may come from another source (e.g. a newer node that bundles npm): accept binaries.
  case "$p" in
    nodejs) command -v node >/dev/null 2>&1 && continue ;;
    npm) command -v npm >/dev/null 2>&1 && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages for the dashboard's build, SDK tests and benchmarks (only when asked:
# `install-deps.sh npm DIR...`).
if [ "${1:-}" = npm ]; then
  shift
  for dir in "$@"; do
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package.json" -nt "$dir/node_modules" ]; then
      (cd "$dir" && npm install --no-audit --no-fund --loglevel=error && touch node_modules)
    fi
  done
fi
