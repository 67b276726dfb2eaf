#!/usr/bin/env bash
# Installs simple-salesforce (PyPI) into a venv under target/, then runs check.py against an
# sfsim binary twice: over plain HTTP and over HTTPS, where requests verifies the server's
# chain with the CA sfsim prints. Exits non-zero when simple-salesforce does not accept the
# simulator. Needs python3 with the venv module (Debian: python3-venv).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
venv="$target/pyclient-check-venv"

# The venv is reused between runs; rebuilt when requirements.txt changed or its Python is gone.
if ! "$venv/bin/python" -c '' 2>/dev/null || ! cmp -s "$here/requirements.txt" "$venv/requirements.txt"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$venv/requirements.txt"
fi
py="$venv/bin/python"

cargo build --quiet -p sfsim --manifest-path "$root/Cargo.toml"
bin="$target/debug/sfsim"
work="$(mktemp -d)"
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

run_check() {
  local out="$work/info-$1"
  shift
  "$bin" --listen 127.0.0.1:0 --accounts 4500 --contacts 20 --cert-dir "$work" "$@" >"$out" &
  pid=$!
  for _ in $(seq 1 100); do
    [ -s "$out" ] && break
    sleep 0.1
  done
  local info
  info="$(head -n 1 "$out")"
  [ -n "$info" ] || { echo "sfsim did not start" >&2; exit 1; }
  SFSIM_INFO="$info" "$py" "$here/check.py"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=""
}

echo "== simple-salesforce $("$py" -c 'import importlib.metadata as m; print(m.version("simple-salesforce"))') against sfsim over HTTP"
run_check http
echo "== simple-salesforce against sfsim over HTTPS"
run_check https --tls
