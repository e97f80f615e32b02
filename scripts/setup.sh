#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: Node >= 22.19 (from the npm registry's `node@24`
# package when the system's is older), redis-server and postgresql from apt when missing, npm ci.
# Prints the directory that holds the node binary to use, on its last line.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"

log() { printf '[setup] %s\n' "$*" >&2; }

node_ok() { # $1 = node binary; true when >= 22.19
  "$1" -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=19)?0:1)' 2>/dev/null
}

node_dir=""
if command -v node >/dev/null 2>&1 && node_ok "$(command -v node)"; then
  node_dir="$(dirname "$(command -v node)")"
elif [ -x "$tools/node_modules/node/bin/node" ] && node_ok "$tools/node_modules/node/bin/node"; then
  node_dir="$tools/node_modules/node/bin"
else
  log "system Node is older than 22.19: installing node@24 from the npm registry into .tools/"
  mkdir -p "$tools"
  [ -f "$tools/package.json" ] || printf '{"name":"telemetry-tools","private":true}\n' >"$tools/package.json"
  (cd "$tools" && npm install --no-audit --no-fund --loglevel=error node@24 >&2)
  node_dir="$tools/node_modules/node/bin"
  node_ok "$node_dir/node" || { log "node@24 install did not produce a usable binary"; exit 1; }
fi

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing ${missing[*]}: run as root or install them with apt-get"; exit 1
  fi
  log "installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  # Debian starts a cluster/daemon on install; this project runs its own throwaway servers.
  (service redis-server stop || true) >/dev/null 2>&1
  (service postgresql stop || true) >/dev/null 2>&1
fi

export PATH="$node_dir:$PATH"
lock="$root/package-lock.json"
stamp="$root/node_modules/.setup-stamp"
if [ ! -f "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
  log "npm ci"
  # Some npm 11 releases write lock files without other platforms' optional packages (Biome's
  # binaries) and then refuse them in `npm ci`; `npm install --no-save` installs the same locked
  # versions without rewriting the lock file.
  if ! (cd "$root" && npm ci --no-audit --no-fund --loglevel=error >&2 2>/dev/null); then
    log "npm ci refused the lock file; installing the locked versions with npm install --no-save"
    (cd "$root" && npm install --no-save --no-audit --no-fund --loglevel=error >&2)
  fi
  touch "$stamp"
fi
echo "$node_dir"
