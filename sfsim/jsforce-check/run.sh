#!/usr/bin/env bash
# Installs jsforce, then runs check.mjs against an sfsim binary twice: over plain HTTP and
# over HTTPS with the generated self-signed certificate. Exits non-zero when jsforce does
# not accept the simulator.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"
if [ -f package-lock.json ]; then npm ci --no-audit --no-fund >/dev/null; else npm install --no-audit --no-fund >/dev/null; fi
cargo build --quiet -p sfsim --manifest-path "$root/Cargo.toml"
bin="${CARGO_TARGET_DIR:-$root/target}/debug/sfsim"
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

run_check() {
  local out="$work/info-$1"
  shift
  "$bin" --listen 127.0.0.1:0 --accounts 450 --contacts 20 --cert-dir "$work" "$@" >"$out" &
  pid=$!
  for _ in $(seq 1 100); do
    [ -s "$out" ] && break
    sleep 0.1
  done
  local info
  info="$(head -n 1 "$out")"
  [ -n "$info" ] || { echo "sfsim did not start" >&2; exit 1; }
  local ca
  ca="$(node -e 'const i = JSON.parse(process.argv[1]); process.stdout.write(i.ca_cert_path ?? "")' "$info")"
  if [ -n "$ca" ]; then
    SFSIM_INFO="$info" NODE_EXTRA_CA_CERTS="$ca" node check.mjs
  else
    SFSIM_INFO="$info" node check.mjs
  fi
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
}

echo "== jsforce against sfsim over HTTP"
run_check http
echo "== jsforce against sfsim over HTTPS"
run_check https --tls
