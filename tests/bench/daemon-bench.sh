#!/usr/bin/env bash
# daemon-bench.sh: strata-storage-daemon against Debian's
# qemu-storage-daemon, in one run:
#   1. start to QMP ready: from exec until the greeting arrives on the
#      monitor socket and qmp_capabilities is answered (median of N runs);
#   2. blockdev-add of 1,000 qcow2 nodes (each with its file node) over one
#      QMP connection: wall time and the daemon's resident memory after.
# Not a pass/fail test: it prints both numbers and the ratio
# (strata / qemu, lower is better).
#
#   tests/bench/daemon-bench.sh [BUILD_DIR]
#
# Environment: STRATA_QSD, QEMU_QSD, DAEMON_BENCH_NODES (default 1000),
# DAEMON_BENCH_STARTS (default 21), DAEMON_BENCH_DIR (scratch).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
strata=${STRATA_QSD:-$build/strata-storage-daemon}
qemu=${QEMU_QSD:-qemu-storage-daemon}
nodes=${DAEMON_BENCH_NODES:-1000}
starts=${DAEMON_BENCH_STARTS:-21}
dir=${DAEMON_BENCH_DIR:-$(mktemp -d /var/tmp/daemon-bench.XXXXXX)}
trap 'rm -rf "$dir"' EXIT

command -v "$qemu" >/dev/null || { echo "qemu-storage-daemon not found" >&2; exit 1; }
[ -x "$strata" ] || { echo "strata-storage-daemon not found at $strata" >&2; exit 1; }
qemu_img=$(command -v qemu-img) || { echo "qemu-img not found" >&2; exit 1; }

python3 - "$strata" "$qemu" "$nodes" "$starts" "$dir" "$qemu_img" <<'PYEOF'
import json, os, socket, statistics, subprocess, sys, time

strata, qemu, nodes, starts, d, qemu_img = sys.argv[1:]
nodes, starts = int(nodes), int(starts)

# One small qcow2 per node (a copy each: a file can only be opened
# writable once per process with locking).
base = os.path.join(d, 'base.qcow2')
subprocess.run([qemu_img, 'create', '-q', '-f', 'qcow2', base, '64M'],
               check=True)
with open(base, 'rb') as f:
    data = f.read()
for i in range(nodes):
    with open(os.path.join(d, 'n%d.qcow2' % i), 'wb') as f:
        f.write(data)


class Daemon:
    def __init__(self, binary):
        self.sock = os.path.join(d, 'qmp.sock')
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        # The listening socket is ours and passed in: no polling for it.
        self.ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ls.bind(self.sock)
        self.ls.listen()
        self.t0 = time.perf_counter()
        self.p = subprocess.Popen(
            [binary, '--chardev',
             'socket,fd=%d,server=on,wait=off,id=m' % self.ls.fileno(),
             '--monitor', 'chardev=m'],
            pass_fds=[self.ls.fileno()], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(self.sock)
        self.f = self.s.makefile('rb')
        self.f.readline()
        self.cmd({'execute': 'qmp_capabilities'})
        self.ready = time.perf_counter() - self.t0

    def cmd(self, msg):
        self.s.sendall(json.dumps(msg).encode())
        while True:
            r = json.loads(self.f.readline())
            if 'event' not in r:
                if 'error' in r:
                    raise RuntimeError(r)
                return r

    def rss_kib(self):
        with open('/proc/%d/status' % self.p.pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])

    def stop(self):
        self.cmd({'execute': 'quit'})
        self.p.wait()
        self.ls.close()


def startup(binary):
    times = []
    for _ in range(starts):
        dmn = Daemon(binary)
        times.append(dmn.ready)
        dmn.stop()
    return statistics.median(times)


def add_nodes(binary):
    dmn = Daemon(binary)
    rss0 = dmn.rss_kib()
    t0 = time.perf_counter()
    for i in range(nodes):
        dmn.cmd({'execute': 'blockdev-add', 'arguments': {
            'driver': 'qcow2', 'node-name': 'q%d' % i,
            'file': {'driver': 'file',
                     'filename': os.path.join(d, 'n%d.qcow2' % i)}}})
    elapsed = time.perf_counter() - t0
    rss = dmn.rss_kib()
    dmn.stop()
    return elapsed, rss0, rss


def row(name, s, q, unit, fmt='%.4f'):
    print('%-34s %12s %12s %8.2f' % (name, (fmt % s) + unit, (fmt % q) + unit,
                                      s / q))


print('%-34s %12s %12s %8s' % ('case', 'strata', 'qemu', 'ratio'))
# QEMU's first, so that Strata's binary gets no warmer cache.
qq = startup(qemu)
sq = startup(strata)
row('start to QMP ready (median, s)', sq, qq, '')
sa = add_nodes(strata)
qa = add_nodes(qemu)
row('blockdev-add x%d (s)' % nodes, sa[0], qa[0], '')
row('RSS before nodes (MiB)', sa[1] / 1024, qa[1] / 1024, '', '%.1f')
row('RSS with %d nodes (MiB)' % nodes, sa[2] / 1024, qa[2] / 1024, '',
    '%.1f')
row('RSS per node (KiB)', (sa[2] - sa[1]) / nodes, (qa[2] - qa[1]) / nodes,
    '', '%.1f')
PYEOF
echo "repeat: tests/bench/daemon-bench.sh $build"
