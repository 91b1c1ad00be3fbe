#!/usr/bin/env bash
# bitmap-bench.sh: dirty bitmap performance.
#
#   1. The in-memory bitmap (util/hbitmap.c) against a naive flat bit array
#      in the same run, for a bitmap covering 1 TiB: marking one million
#      random 4 KiB writes, iterating every dirty extent afterwards (dense
#      and sparse), and the memory a 1 TiB bitmap at 64 KiB granularity
#      takes (the bits alone are 2 MiB).  build/tests/bench/bitmap-bench
#      does this part and checks that both bitmaps end up alike.
#   2. Persistent bitmaps, strata-img against Debian's qemu-img on the same
#      image: loading a 512-byte-granularity bitmap of a 256 GiB qcow2
#      image (64 MiB of bits, dirty in 8000 scattered places), merging it
#      into a new bitmap and storing both ("bitmap --add -g 512 --merge
#      SRC").
#
# Not a pass/fail test: it prints times and ratios (for part 2, qemu-img's
# time / strata-img's: above 1, Strata is faster) and the commands to
# repeat them.
#
#   tests/bench/bitmap-bench.sh [BUILD_DIR]
#
# Environment: STRATA_IMG, QEMU_IMG, QEMU_IO (defaults BUILD_DIR's
# strata-img, qemu-img, qemu-io), BITMAP_BENCH_ROUNDS (default 5),
# BITMAP_BENCH_DIR (scratch; default a directory in /dev/shm, or
# /var/tmp without it).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
bench=$build/tests/bench/bitmap-bench
strata=${STRATA_IMG:-$build/strata-img}
qemu=${QEMU_IMG:-qemu-img}
qemu_io=${QEMU_IO:-qemu-io}
rounds=${BITMAP_BENCH_ROUNDS:-5}
# tmpfs by default: part 2 then measures the tools, not a shared disk.
if [ -n "${BITMAP_BENCH_DIR:-}" ]; then
    dir=$BITMAP_BENCH_DIR dir_kind=$BITMAP_BENCH_DIR
elif [ -d /dev/shm ] && [ -w /dev/shm ]; then
    dir=$(mktemp -d /dev/shm/bitmap-bench.XXXXXX) dir_kind=tmpfs
else
    dir=$(mktemp -d /var/tmp/bitmap-bench.XXXXXX) dir_kind=/var/tmp
fi
trap 'rm -rf "$dir"' EXIT

[ -x "$bench" ] || { echo "$bench not found (build first)" >&2; exit 1; }
[ -x "$strata" ] || { echo "strata-img not found at $strata" >&2; exit 1; }
for t in "$qemu" "$qemu_io"; do
    command -v "$t" >/dev/null || { echo "$t not found" >&2; exit 1; }
done

echo "=== 1. In memory: hierarchical bitmap against a flat bit array ==="
echo "(repeat: $bench $rounds)"
"$bench" "$rounds"

echo
echo "=== 2. Persistent: load, merge and store a 64 MiB bitmap ==="
img=$dir/big.qcow2
"$qemu" create -q -f qcow2 "$img" 256G
"$qemu" bitmap --add -g 512 "$img" src
# 8000 scattered 4 KiB writes (seeded: the same image every run).
python3 - "$dir/writes" <<'EOF'
import random, sys
rng = random.Random(2019)
with open(sys.argv[1], 'w') as f:
    for _ in range(8000):
        f.write('write %d 4k\n' % (rng.randrange(256 << 18) * 4096))
EOF
"$qemu_io" -f qcow2 "$img" < "$dir/writes" > /dev/null

# "WALL CPU" seconds of TOOL's merge on a fresh copy of $img (CPU: user
# plus system time, which the load of other processes disturbs less).
time_merge()
{
    local tool=$1
    cp --sparse=always "$img" "$dir/work.qcow2"
    local TIMEFORMAT='%3R %3U %3S'
    { time "$tool" bitmap --add -g 512 --merge src -f qcow2 \
          "$dir/work.qcow2" copy; } 2> "$dir/time"
    awk '{ print $1, $2 + $3 }' "$dir/time"
}

median()
{
    sort -n | awk '{ v[NR] = $1 }
        END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# The tools take turns, first one then the other, so that neither always
# meets the caches in the same state.
: > "$dir/qemu.times"
: > "$dir/strata.times"
for (( r = 0; r < rounds; r++ )); do
    if (( r % 2 )); then
        time_merge "$strata" >> "$dir/strata.times"
        time_merge "$qemu" >> "$dir/qemu.times"
    else
        time_merge "$qemu" >> "$dir/qemu.times"
        time_merge "$strata" >> "$dir/strata.times"
    fi
done
qw=$(cut -d' ' -f1 "$dir/qemu.times" | median)
qc=$(cut -d' ' -f2 "$dir/qemu.times" | median)
sw=$(cut -d' ' -f1 "$dir/strata.times" | median)
sc=$(cut -d' ' -f2 "$dir/strata.times" | median)
printf '%-12s %8s %8s\n' '' wall cpu
printf '%-12s %7.3fs %7.3fs\n' qemu-img "$qw" "$qc" strata-img "$sw" "$sc"
printf 'ratio qemu-img / strata-img: wall %.2f, cpu %.2f\n' \
    "$(echo "$qw / $sw" | bc -l)" "$(echo "$qc / $sc" | bc -l)"
echo "(in $dir_kind; repeat: TOOL bitmap --add -g 512 --merge src -f qcow2" \
     "COPY copy, on a copy of the 256 GiB image made above; median of $rounds)"
