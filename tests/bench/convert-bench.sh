#!/usr/bin/env bash
# convert-bench.sh: time "strata-img convert" against Debian's
# "qemu-img convert" on the same raw source (half data, half holes),
# raw -> raw, in one run, and check that both targets keep the holes.
#
# Not a pass/fail test: it prints both tools' times, the ratio
# (strata / qemu, lower is better) and the command to repeat a run.
#
#   tests/bench/convert-bench.sh                 # 2 GiB source, 5 rounds
#   CONVERT_BENCH_SIZE=8G CONVERT_BENCH_ROUNDS=5 tests/bench/convert-bench.sh
#
# Environment: STRATA_IMG (default build/strata-img), QEMU_IMG
# (default qemu-img), CONVERT_BENCH_DIR (scratch, default under /var/tmp),
# CONVERT_BENCH_SIZE, CONVERT_BENCH_ROUNDS, CONVERT_BENCH_ARGS (extra
# convert options for both tools, e.g. "-W" or "-t none").
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
strata=${STRATA_IMG:-$root/build/strata-img}
qemu=${QEMU_IMG:-qemu-img}
size=${CONVERT_BENCH_SIZE:-2G}
rounds=${CONVERT_BENCH_ROUNDS:-5}
extra=${CONVERT_BENCH_ARGS:-}
dir=${CONVERT_BENCH_DIR:-$(mktemp -d /var/tmp/convert-bench.XXXXXX)}
trap 'rm -rf "$dir"' EXIT

command -v "$qemu" >/dev/null || { echo "qemu-img not found" >&2; exit 1; }
[ -x "$strata" ] || { echo "strata-img not found at $strata" >&2; exit 1; }

bytes=$(numfmt --from=iec "$size")
chunk=$((64 * 1024 * 1024))
src=$dir/src.raw
"$qemu" create -q -f raw "$src" "$size"
# Alternate 64 MiB of random data and 64 MiB holes: half data, half holes.
for ((off = 0; off < bytes; off += 2 * chunk)); do
    dd if=/dev/urandom of="$src" bs=1M count=64 seek=$((off / 1048576)) \
       conv=notrunc status=none
done
sync

# Seconds (wall clock) of one conversion into a fresh target.
run_one()
{
    local tool=$1 dst=$dir/dst.raw t0 t1
    rm -f "$dst"
    # Start from the same state: no dirty pages of the previous run being
    # written back while this one runs.  The source stays cached.
    sync
    sleep 0.5
    t0=$(date +%s.%N)
    "$tool" convert $extra -f raw -O raw "$src" "$dst"
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}

allocated() { echo $(( $(stat -c %b "$1") * $(stat -c %B "$1") )); }

echo "convert raw -> raw, $size source (64 MiB data / 64 MiB holes), $rounds rounds"
echo "source allocated: $(allocated "$src") bytes"
times_q=(); times_s=()
for ((i = 1; i <= rounds; i++)); do
    # Alternate which tool goes first so neither always gets a warmer cache.
    if ((i % 2)); then
        tq=$(run_one "$qemu"); aq=$(allocated "$dir/dst.raw")
        ts=$(run_one "$strata"); as=$(allocated "$dir/dst.raw")
    else
        ts=$(run_one "$strata"); as=$(allocated "$dir/dst.raw")
        tq=$(run_one "$qemu"); aq=$(allocated "$dir/dst.raw")
    fi
    printf 'round %d: qemu-img %.3f s (allocated %d)   strata-img %.3f s (allocated %d)\n' \
        "$i" "$tq" "$aq" "$ts" "$as"
    times_q+=("$tq"); times_s+=("$ts")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
med_q=$(median "${times_q[@]}"); med_s=$(median "${times_s[@]}")
"$qemu" compare -q -f raw -F raw "$src" "$dir/dst.raw" &&
    echo "strata-img target is identical to the source"
printf 'median: qemu-img %.3f s, strata-img %.3f s, ratio strata/qemu %.2f\n' \
    "$med_q" "$med_s" "$(echo "$med_s / $med_q" | bc -l)"
echo "repeat: CONVERT_BENCH_SIZE=$size CONVERT_BENCH_ROUNDS=$rounds" \
     "CONVERT_BENCH_ARGS='$extra' $0"
