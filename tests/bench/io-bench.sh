#!/usr/bin/env bash
# io-bench.sh: IOPS of "strata-img bench" against Debian's "qemu-img
# bench" on the same raw image, 4 KiB requests, for each combination of
# queue depth (1, 32), cache mode (none, writeback) and AIO engine
# (threads, native, io_uring; native only with cache=none, as in QEMU).
#
# Not a pass/fail test: it prints each case, both tools' IOPS, the ratio
# (strata / qemu, higher is better) and the command to repeat the case.
#
#   tests/bench/io-bench.sh                      # reads, 20000 requests
#   IO_BENCH_COUNT=200000 IO_BENCH_WRITE=1 tests/bench/io-bench.sh
#
# Environment: STRATA_IMG, QEMU_IMG, IO_BENCH_DIR (scratch, default
# under /var/tmp), IO_BENCH_COUNT (requests per run), IO_BENCH_SIZE
# (image size, default 1G), IO_BENCH_WRITE=1 (write test),
# IO_BENCH_ROUNDS (runs per tool per case; the best counts, default 2).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
strata=${STRATA_IMG:-$root/build/strata-img}
qemu=${QEMU_IMG:-qemu-img}
count=${IO_BENCH_COUNT:-20000}
size=${IO_BENCH_SIZE:-1G}
rounds=${IO_BENCH_ROUNDS:-2}
write=${IO_BENCH_WRITE:+-w}
mode=${IO_BENCH_WRITE:+write}
mode=${mode:-read}
dir=${IO_BENCH_DIR:-$(mktemp -d /var/tmp/io-bench.XXXXXX)}
trap 'rm -rf "$dir"' EXIT

command -v "$qemu" >/dev/null || { echo "qemu-img not found" >&2; exit 1; }
[ -x "$strata" ] || { echo "strata-img not found at $strata" >&2; exit 1; }

img=$dir/bench.raw
# Fully written so that reads hit real blocks, not holes.
"$qemu" create -q -f raw -o preallocation=full "$img" "$size"

# IOPS of one run: count / "Run completed in S seconds."
iops()
{
    local secs
    secs=$("$@" | sed -n 's/^Run completed in \([0-9.]*\) seconds\.$/\1/p')
    echo "$count / ($secs + 0.0000001)" | bc -l
}

best()
{
    local b=0 v
    for ((r = 0; r < rounds; r++)); do
        v=$(iops "$@")
        b=$(echo "if ($v > $b) $v else $b" | bc -l)
    done
    echo "$b"
}

printf '%-38s %12s %12s %7s\n' "case (4 KiB $mode)" \
    "qemu IOPS" "strata IOPS" "ratio"
for depth in 1 32; do
    for cache in none writeback; do
        for aio in threads native io_uring; do
            if [ $aio = native ] && [ $cache != none ]; then
                continue
            fi
            args="-c $count -d $depth -s 4k -t $cache -i $aio $write -f raw"
            q=$(best "$qemu" bench $args "$img")
            s=$(best "$strata" bench $args "$img")
            printf '%-38s %12.0f %12.0f %7.2f\n' \
                "depth $depth cache $cache aio $aio" "$q" "$s" \
                "$(echo "$s / $q" | bc -l)"
        done
    done
done
echo "repeat one case: $strata bench -c $count -d DEPTH -s 4k -t CACHE -i AIO" \
     "${write:+-w }-f raw IMAGE   (and the same with $qemu)"
echo "repeat all: IO_BENCH_COUNT=$count IO_BENCH_ROUNDS=$rounds" \
     "${write:+IO_BENCH_WRITE=1 }$0"
