#!/usr/bin/env bash
# throttle-bench.sh: how closely strata-io with a throttle node holds its
# limits, next to Debian's qemu-io with QEMU's throttle filter, on the same
# image and the same request stream:
#
#   1. bps-total=50 MiB/s and iops-total=2000, ten seconds each of
#      sequential and of random reads: achieved / configured;
#   2. a burst (bps-total=10 MiB/s, bps-total-max=50 MiB/s for 3 s): the
#      time to read 50 ... 250 MiB against the ideal leaky-bucket curve;
#   3. two members of one group reading at once (two throttle nodes
#      exported by strata-storage-daemon and by qemu-storage-daemon, read
#      by two NBD clients in this script for ten seconds): each one's share.
#
# Not a pass/fail test (make bench runs it, make check does not).  Reads go
# one at a time in cases 1 and 2; their rates include the tenth of a second
# of I/O a fresh bucket lets through at once (about +1% over ten seconds,
# for both tools alike).
#
#   tests/bench/throttle-bench.sh [BUILD_DIR]
#
# Environment: STRATA_IO, QEMU_IO, STRATA_QSD, QSD (the four programs;
# defaults BUILD_DIR/strata-io, qemu-io, BUILD_DIR/
# strata-storage-daemon, qemu-storage-daemon), THROTTLE_BENCH_SECONDS
# (default 10), THROTTLE_BENCH_DIR (scratch, default under /var/tmp).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
strata_io=${STRATA_IO:-$build/strata-io}
qemu_io=${QEMU_IO:-qemu-io}
strata_qsd=${STRATA_QSD:-$build/strata-storage-daemon}
qemu_qsd=${QSD:-qemu-storage-daemon}
secs=${THROTTLE_BENCH_SECONDS:-10}
dir=${THROTTLE_BENCH_DIR:-$(mktemp -d /var/tmp/throttle-bench.XXXXXX)}
trap 'rm -rf "$dir"' EXIT

for t in "$strata_io" "$qemu_io" "$strata_qsd" "$qemu_qsd"; do
    command -v "$t" >/dev/null || { echo "$t not found" >&2; exit 1; }
done

MiB=1048576
img=$dir/disk.raw
truncate -s 1G "$img"

# A file of qemu-io commands: COUNT reads of SIZE bytes, sequential or at
# random (seeded, so both tools get the same offsets).
make_cmds()
{
    local file=$1 count=$2 size=$3 pattern=$4
    python3 - "$file" "$count" "$size" "$pattern" <<'EOF'
import random, sys
path, count, size, pattern = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
blocks = (1 << 30) // size
rnd = random.Random(42)
with open(path, 'w') as f:
    for i in range(count):
        block = i % blocks if pattern == 'seq' else rnd.randrange(blocks)
        f.write('read -q %d %d\n' % (block * size, size))
EOF
}

# Wall-clock seconds of TOOL running the commands of FILE through a
# throttle node whose group has the options LIMITS.
run_tool()
{
    local tool=$1 limits=$2 file=$3 t0 t1
    t0=$(date +%s.%N)
    "$tool" --object "throttle-group,id=tg,$limits" \
        --image-opts "driver=throttle,throttle-group=tg,file.driver=raw,file.file.filename=$img" \
        < "$file" > /dev/null
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
}

# Start-up and exit cost of TOOL, taken off every run's time.
overhead()
{
    local tool=$1 best=100 t
    echo 'read -q 0 512' > "$dir/one.cmds"
    for _ in 1 2 3; do
        t=$(run_tool "$tool" "x-bps-total=1000000000" "$dir/one.cmds")
        best=$(echo "if ($t < $best) $t else $best" | bc -l)
    done
    echo "$best"
}

ovh_s=$(overhead "$strata_io")
ovh_q=$(overhead "$qemu_io")
printf 'start-up overhead subtracted: strata-io %.3f s, qemu-io %.3f s\n\n' \
    "$ovh_s" "$ovh_q"

echo "== 1. rates over ${secs} s of reads, one at a time =="
printf '%-34s %12s %12s %10s\n' case strata-io qemu-io strata/qemu
rate_case()
{
    local name=$1 limits=$2 size=$3 pattern=$4 count=$5 unit=$6 configured=$7
    local ts tq as aq
    make_cmds "$dir/cmds" "$count" "$size" "$pattern"
    ts=$(run_tool "$strata_io" "$limits" "$dir/cmds")
    tq=$(run_tool "$qemu_io" "$limits" "$dir/cmds")
    as=$(echo "$count * $unit / ($ts - $ovh_s) / $configured" | bc -l)
    aq=$(echo "$count * $unit / ($tq - $ovh_q) / $configured" | bc -l)
    printf '%-34s %12.4f %12.4f %10.4f\n' "$name" "$as" "$aq" \
        "$(echo "$as / $aq" | bc -l)"
}
bps=$((50 * MiB))
n_bps=$((secs * bps / 65536))
n_iops=$((secs * 2000))
rate_case "bps-total=50M, seq 64k" "limits.bps-total=$bps" 65536 seq \
    "$n_bps" 65536 "$bps"
rate_case "bps-total=50M, random 64k" "limits.bps-total=$bps" 65536 rand \
    "$n_bps" 65536 "$bps"
rate_case "iops-total=2000, seq 4k" "limits.iops-total=2000" 4096 seq \
    "$n_iops" 1 2000
rate_case "iops-total=2000, random 4k" "limits.iops-total=2000" 4096 rand \
    "$n_iops" 1 2000
printf '(achieved / configured; %.4f would be exact: the first tenth of a\n' \
    "$(echo "$secs / ($secs - 0.1)" | bc -l)"
echo " second of I/O passes at once, before the bucket is full)"

echo
echo "== 2. burst: bps-total=10M, bps-total-max=50M, bps-total-max-length=3 =="
# Ideal: 5 MiB (the burst bucket) at once, then 50 MiB/s while the main
# bucket (150 MiB) fills at 40 MiB/s, i.e. until 3.625 s and 186.25 MiB;
# then 10 MiB/s.
ideal_time()
{
    echo "x = $1; if (x <= 186.25) (x - 5) / 50 else 3.625 + (x - 186.25) / 10" |
        bc -l
}
limits="limits.bps-total=$((10 * MiB)),limits.bps-total-max=$((50 * MiB)),limits.bps-total-max-length=3"
printf '%-10s %10s %12s %12s %12s %12s\n' MiB ideal/s strata-io/s qemu-io/s \
    strata/ideal qemu/ideal
for mib in 50 100 150 200 250; do
    make_cmds "$dir/cmds" $((mib * 16)) 65536 seq
    ti=$(ideal_time "$mib")
    ts=$(echo "$(run_tool "$strata_io" "$limits" "$dir/cmds") - $ovh_s" | bc -l)
    tq=$(echo "$(run_tool "$qemu_io" "$limits" "$dir/cmds") - $ovh_q" | bc -l)
    printf '%-10s %10.3f %12.3f %12.3f %12.4f %12.4f\n' "$mib" "$ti" "$ts" \
        "$tq" "$(echo "$ts / $ti" | bc -l)" "$(echo "$tq / $ti" | bc -l)"
done

echo
echo "== 3. two members of one group (bps-total=50M), ${secs} s =="
share_case()
{
    local daemon=$1 label=$2 sock=$dir/nbd.sock
    rm -f "$sock"
    "$daemon" --object "throttle-group,id=tg,limits.bps-total=$bps" \
        --blockdev "file,node-name=f,filename=$img,read-only=on" \
        --blockdev throttle,node-name=t0,throttle-group=tg,file=f \
        --blockdev throttle,node-name=t1,throttle-group=tg,file=f \
        --nbd-server "addr.type=unix,addr.path=$sock" \
        --export nbd,id=e0,node-name=t0,name=a \
        --export nbd,id=e1,node-name=t1,name=b > "$dir/daemon.log" 2>&1 &
    local pid=$!
    python3 - "$sock" "$secs" "$bps" "$label" <<'EOF'
import os, select, socket, struct, sys, time
path, secs, bps, label = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
SIZE, DEPTH = 65536, 4

def recv(s, n):
    data = b''
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data

def connect(name):
    for _ in range(200):
        try:
            s = socket.socket(socket.AF_UNIX)
            s.connect(path)
            break
        except OSError:
            time.sleep(0.05)
    recv(s, 18)
    s.sendall(struct.pack('>I', 3))
    s.sendall(b'IHAVEOPT' + struct.pack('>II', 1, len(name)) + name.encode())
    recv(s, 10)
    return s

def send_read(s, n):
    s.sendall(struct.pack('>IHHQQI', 0x25609513, 0, 0, n, (n * SIZE) % (1 << 30), SIZE))

clients = {name: connect(name) for name in ('a', 'b')}
done = {name: 0 for name in clients}
sent = {name: 0 for name in clients}
for name, s in clients.items():
    for _ in range(DEPTH):
        send_read(s, sent[name]); sent[name] += 1
start = time.monotonic()
by_sock = {s: name for name, s in clients.items()}
while time.monotonic() - start < secs:
    for s in select.select(list(by_sock), [], [], 0.1)[0]:
        name = by_sock[s]
        magic, err, handle = struct.unpack('>IIQ', recv(s, 16))
        recv(s, SIZE)
        done[name] += SIZE
        send_read(s, sent[name]); sent[name] += 1
total = sum(done.values())
print('%-22s share a %.4f  b %.4f   both together: %.4f of configured' %
      (label, done['a'] / total, done['b'] / total, total / secs / bps))
for s in clients.values():
    s.close()
EOF
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}
share_case "$strata_qsd" strata-storage-daemon
share_case "$qemu_qsd" qemu-storage-daemon

echo
echo "repeat: $0 $build"
