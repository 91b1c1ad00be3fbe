#!/bin/bash
# build-guest.sh: a tiny x86-64 guest for end-to-end tests, made only from
# Debian packages: the distribution's kernel and a busybox initramfs whose
# /init runs the script the kernel command line names (guest.script=...,
# one of those below), then powers off.
#
#   scripts/build-guest.sh [DIR]      # default $STRATA_GUEST_DIR or
#                                     # /var/tmp/strata-guest
#
# Leaves DIR/vmlinuz and DIR/initrd.gz (kept between runs: building again
# only happens when they are missing).  Needs apt-get (to download the
# kernel package), dpkg-deb, cpio, gzip and busybox-static.
#
# Guest scripts (chosen with guest.script=NAME on the kernel command line):
#   write-pattern   fill the first MiB of /dev/vda with 'Z' bytes (0x5a),
#                   read them back, print "guest: pattern written", sync
set -euo pipefail

dir=${1:-${STRATA_GUEST_DIR:-/var/tmp/strata-guest}}
if [ -s "$dir/vmlinuz" ] && [ -s "$dir/initrd.gz" ]; then
    echo "build-guest: $dir is ready"
    exit 0
fi
mkdir -p "$dir"
work=$(mktemp -d "$dir/build.XXXXXX")
trap 'rm -rf "$work"' EXIT

busybox=$(command -v busybox) || {
    echo "build-guest: busybox (busybox-static) is not installed" >&2
    exit 1
}
if ldd "$busybox" >/dev/null 2>&1; then
    echo "build-guest: $busybox is not static (install busybox-static)" >&2
    exit 1
fi

# The kernel linux-image-amd64 depends on, downloaded (not installed).
kpkg=$(apt-cache depends linux-image-amd64 |
       sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
[ -n "$kpkg" ] || { echo "build-guest: no kernel package found" >&2; exit 1; }
(cd "$work" && apt-get download -q "$kpkg" >/dev/null 2>&1) || {
    echo "build-guest: cannot download $kpkg" >&2
    exit 1
}
dpkg-deb -x "$work"/linux-image-*.deb "$work/kernel"
kver=$(ls "$work/kernel/lib/modules")
moddir=$work/kernel/lib/modules/$kver

# The initramfs: busybox, the virtio modules (Debian builds them as
# modules; this is their load order) and /init.
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,mnt,modules}
cp "$busybox" "$root/bin/busybox"
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev \
         virtio_pci virtio_blk; do
    f=$(find "$moddir" -name "$m.ko*" | head -n 1)
    [ -n "$f" ] || { echo "build-guest: module $m not found" >&2; exit 1; }
    case "$f" in
    *.ko.xz) xz -dc "$f" > "$root/modules/$m.ko" ;;
    *.ko.zst) zstd -qdc "$f" > "$root/modules/$m.ko" ;;
    *) cp "$f" "$root/modules/$m.ko" ;;
    esac
    echo "$m" >> "$root/modules/order"
done

cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules/order); do
    insmod /modules/$m.ko || echo "guest: insmod $m failed"
done
for i in 1 2 3 4 5 6 7 8 9 10; do
    [ -b /dev/vda ] && break
    sleep 0.2
done
script=
for arg in $(cat /proc/cmdline); do
    case "$arg" in
    guest.script=*) script=${arg#guest.script=} ;;
    esac
done
case "$script" in
write-pattern)
    if [ -b /dev/vda ]; then
        # The pattern is made in memory first: reads from a pipe may be
        # short, so dd must not count blocks on one.
        dd if=/dev/zero bs=65536 count=16 2>/dev/null | tr '\000' 'Z' \
            > /pattern
        dd if=/pattern of=/dev/vda bs=65536 conv=fsync 2>/dev/null
        sync
        echo 3 > /proc/sys/vm/drop_caches
        dd if=/dev/vda of=/readback bs=65536 count=16 2>/dev/null
        if [ "$(wc -c < /pattern)" = 1048576 ] && cmp -s /pattern /readback
        then
            echo "guest: pattern written"
        else
            echo "guest: pattern check failed"
        fi
    else
        echo "guest: no /dev/vda"
    fi
    ;;
*)
    echo "guest: unknown script '$script'"
    ;;
esac
sync
poweroff -f
INIT
chmod +x "$root/init"

(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) > "$work/initrd.gz"
cp "$work/kernel/boot/vmlinuz-$kver" "$work/vmlinuz"
mv "$work/initrd.gz" "$dir/initrd.gz"
mv "$work/vmlinuz" "$dir/vmlinuz"
echo "build-guest: $dir ready (kernel $kver)"
