#!/bin/sh
# Install every package Strata needs to build and test, from Debian's
# archive.  Idempotent: packages already present are not reinstalled.
# Usage: scripts/install-deps.sh [--build-only]
set -eu

BUILD_PKGS="build-essential meson ninja-build pkg-config python3
libglib2.0-dev libjansson-dev zlib1g-dev libzstd-dev liburing-dev
libaio-dev uuid-dev libssh-dev"
TEST_PKGS="qemu-utils qemu-system-x86 qemu-block-extra libnbd-bin nbdkit
busybox-static cpio gzip valgrind fio"

pkgs="$BUILD_PKGS"
if [ "${1:-}" != "--build-only" ]; then
    pkgs="$pkgs $TEST_PKGS"
fi

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "install-deps: all dependencies are installed"
    exit 0
fi

echo "install-deps: installing:$missing"
SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
echo "install-deps: done"
