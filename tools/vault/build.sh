#!/usr/bin/env bash
# build.sh builds the Vault binary that sandgate's tests start as a dev
# server, into a cache keyed on this module's go.sum, and prints the
# binary's path as the last line of stdout. A cached binary is reused.
#
#   SANDGATE_VAULT_BIN="$(tools/vault/build.sh | tail -n1)"
#
# The first build downloads ~2 minutes of modules and compiles for ~20
# minutes on a 2-core machine (peak ~5.6 GB memory, ~8 GB of Go caches).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
sum="$(sha256sum "$here/go.sum" | cut -c1-12)"
dir="${XDG_CACHE_HOME:-$HOME/.cache}/sandgate/vault-$sum"
bin="$dir/vault"

if [[ -x "$bin" ]]; then
	echo "$bin"
	exit 0
fi

echo "building vault into $dir: the first run takes about 20 minutes (later runs reuse it)" >&2
mkdir -p "$dir"
tmp="$(mktemp "$dir/vault.tmp.XXXXXX")"
trap 'rm -f "$tmp"' EXIT
start=$SECONDS
(cd "$here" && GOWORK=off go build -trimpath -buildvcs=false -o "$tmp" .)
mv -f "$tmp" "$bin"
trap - EXIT
echo "built vault in $((SECONDS - start))s" >&2
echo "$bin"
