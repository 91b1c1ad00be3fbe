#!/usr/bin/env bash
# nbd-bench.sh: strata-nbd against Debian's qemu-nbd, side by side in one
# run, over UNIX sockets:
#   - nbdcopy from an export of a qcow2 image (half data) to null:, and
#     from a raw file into an export of a fresh qcow2, with multi-conn on
#     (-C 4) and off (-C 1)
#   - fio's nbd engine, 4 KiB random reads and writes at iodepth 32
#     (skipped if fio is not installed)
#
# Not a pass/fail test: it prints each case, both servers' numbers, the
# ratio (strata / qemu, higher is better) and the commands to repeat it.
#
#   tests/bench/nbd-bench.sh
#   NBD_BENCH_SIZE=2G NBD_BENCH_ROUNDS=3 tests/bench/nbd-bench.sh
#
# Environment: STRATA_NBD, QEMU_NBD, NBD_BENCH_DIR (scratch, default under
# /var/tmp), NBD_BENCH_SIZE (qcow2 size, default 2G; half of it is data),
# NBD_BENCH_ROUNDS (runs per server per case, the best counts; default 2),
# NBD_BENCH_FIO_SECS (seconds per fio run, default 10).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
strata=${STRATA_NBD:-$root/build/strata-nbd}
qemu=${QEMU_NBD:-qemu-nbd}
size=${NBD_BENCH_SIZE:-2G}
rounds=${NBD_BENCH_ROUNDS:-2}
fio_secs=${NBD_BENCH_FIO_SECS:-10}
dir=${NBD_BENCH_DIR:-$(mktemp -d /var/tmp/nbd-bench.XXXXXX)}
pids=()
cleanup()
{
    for p in "${pids[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    rm -rf "$dir"
}
trap cleanup EXIT

for tool in "$qemu" qemu-img qemu-io nbdcopy; do
    command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 1; }
done
[ -x "$strata" ] || { echo "strata-nbd not found at $strata" >&2; exit 1; }

bytes=$(numfmt --from=iec "$size")
mib=$((bytes / 1048576))

# The image: data in every other 64 MiB stretch.
img=$dir/half.qcow2
qemu-img create -q -f qcow2 "$img" "$size"
for ((off = 0; off < mib; off += 128)); do
    echo "write -P $(( (off / 128) % 250 + 1 )) ${off}M 64M"
done | qemu-io -f qcow2 "$img" >/dev/null
# A raw source for copies into the servers.
src=$dir/src.raw
head -c $((bytes / 2)) /dev/urandom > "$src"

# serve TOOL SOCKET ARGS...: start a server in the background.
serve()
{
    local tool=$1 sock=$2 pidfile=$dir/$(basename "$2").pid
    shift 2
    rm -f "$sock"
    "$tool" --fork --pid-file="$pidfile" -t -e 0 -k "$sock" "$@"
    pids+=("$(cat "$pidfile")")
}

stop()
{
    local pidfile=$dir/$(basename "$1").pid p
    p=$(cat "$pidfile")
    kill "$p" 2>/dev/null || true
    while kill -0 "$p" 2>/dev/null; do
        sleep 0.05
    done
}

# Seconds of the fastest of $rounds runs of a command.
fastest()
{
    local best="" t0 t1 t
    for ((r = 0; r < rounds; r++)); do
        t0=$(date +%s.%N)
        "$@" >/dev/null
        t1=$(date +%s.%N)
        t=$(echo "$t1 - $t0" | bc -l)
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then
            best=$t
        fi
    done
    echo "$best"
}

row()
{
    printf '%-44s %12.1f %12.1f %7.2f\n' "$1" "$2" "$3" \
        "$(echo "$3 / ($2 + 0.0000001)" | bc -l)"
}

printf '%-44s %12s %12s %7s\n' "case" "qemu-nbd" "strata-nbd" "ratio"

# ---- nbdcopy out of an export ----
serve "$qemu" "$dir/q.sock" -r -f qcow2 "$img"
serve "$strata" "$dir/s.sock" -r -f qcow2 "$img"
for conns in 4 1; do
    q=$(fastest nbdcopy -C $conns "nbd+unix:///?socket=$dir/q.sock" null:)
    s=$(fastest nbdcopy -C $conns "nbd+unix:///?socket=$dir/s.sock" null:)
    row "nbdcopy export -> null: -C $conns (MiB/s)" \
        "$(echo "$mib / $q" | bc -l)" "$(echo "$mib / $s" | bc -l)"
done

# ---- fio, random 4 KiB ----
if command -v fio >/dev/null; then
    for rw in randread randwrite; do
        if [ $rw = randwrite ]; then
            # Writable: each server gets its own copy (image locks).
            stop "$dir/q.sock"
            stop "$dir/s.sock"
            cp --sparse=always "$img" "$dir/w-q.qcow2"
            cp --sparse=always "$img" "$dir/w-s.qcow2"
            serve "$qemu" "$dir/q.sock" -f qcow2 "$dir/w-q.qcow2"
            serve "$strata" "$dir/s.sock" -f qcow2 "$dir/w-s.qcow2"
        fi
        for side in q s; do
            fio --name=nbd --ioengine=nbd \
                --uri="nbd+unix:///?socket=$dir/$side.sock" --rw=$rw \
                --bs=4k --iodepth=32 --runtime="$fio_secs" --time_based \
                --output-format=terse --terse-version=3 \
                > "$dir/fio-$side.txt"
        done
        field=$([ $rw = randread ] && echo 8 || echo 49)
        # (fio's nbd engine adds a line of its own to the terse output)
        q=$(grep '^3;' "$dir/fio-q.txt" | cut -d';' -f$field)
        s=$(grep '^3;' "$dir/fio-s.txt" | cut -d';' -f$field)
        row "fio nbd $rw 4k iodepth 32 (IOPS)" "$q" "$s"
    done
else
    echo "(fio not installed: random I/O skipped)"
fi
stop "$dir/q.sock"
stop "$dir/s.sock"

# ---- nbdcopy into an export ----
for conns in 4 1; do
    for side in q s; do
        tool=$([ $side = q ] && echo "$qemu" || echo "$strata")
        qemu-img create -q -f qcow2 "$dir/dst-$side.qcow2" $((bytes / 2))
        serve "$tool" "$dir/d$side.sock" -f qcow2 "$dir/dst-$side.qcow2"
    done
    q=$(fastest nbdcopy -C $conns "$src" "nbd+unix:///?socket=$dir/dq.sock")
    s=$(fastest nbdcopy -C $conns "$src" "nbd+unix:///?socket=$dir/ds.sock")
    row "nbdcopy file -> export -C $conns (MiB/s)" \
        "$(echo "$mib / 2 / $q" | bc -l)" "$(echo "$mib / 2 / $s" | bc -l)"
    stop "$dir/dq.sock"
    stop "$dir/ds.sock"
done

echo "repeat a case: $strata -t -e 0 -r -k SOCK -f qcow2 IMAGE &" \
     "nbdcopy -C 4 'nbd+unix:///?socket=SOCK' null:  (and the same with $qemu)"
echo "repeat all: NBD_BENCH_SIZE=$size NBD_BENCH_ROUNDS=$rounds $0"
