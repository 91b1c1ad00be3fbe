#!/bin/bash
# The main job end to end on local files, with the binaries in the build
# directory.  Each step prints the command it runs; any failure stops it.
# Usage: scripts/demo.sh [BUILD_DIR]
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
img="$build/strata-img"
io="$build/strata-io"
work=$(mktemp -d /var/tmp/strata-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT

step() {
    echo
    echo "\$ $*"
    "$@"
}

echo "Strata demo in $work"

# 1. A raw image with some data in it.
step "$img" create -f raw "$work/disk.raw" 64M
step "$io" -f raw -c 'write -P 0xa5 0 1M' -c 'write -P 0x5a 32M 512k' \
    "$work/disk.raw"

# 2. Read it back and verify the patterns.
step "$io" -f raw -c 'read -P 0xa5 0 1M' -c 'read -P 0x5a 32M 512k' \
    -c 'read -P 0 1M 31M' "$work/disk.raw"

# 3. Copy it; holes stay holes.
step "$img" convert -p -f raw -O raw "$work/disk.raw" "$work/copy.raw"
step "$img" compare -f raw -F raw "$work/disk.raw" "$work/copy.raw"
step "$img" map --output=json -f raw "$work/copy.raw"

# 4. What the tools see.
step "$img" info -f raw "$work/copy.raw"

echo
echo "demo: all steps succeeded"
