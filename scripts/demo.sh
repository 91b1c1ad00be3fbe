#!/bin/bash
# The main job end to end on local files, with the binaries in the build
# directory: a disk image served by strata-storage-daemon gets a full
# backup and then an incremental one (a dirty bitmap records what the
# "guest" writes in between), and the backup chain is checked against the
# disk.  Each step prints what it runs; any failure stops the demo.
# Usage: scripts/demo.sh [BUILD_DIR]
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
img="$build/strata-img"
io="$build/strata-io"
qsd="$build/strata-storage-daemon"
work=$(mktemp -d /var/tmp/strata-demo.XXXXXX)
qsd_pid=
cleanup() {
    if [ -n "$qsd_pid" ]; then
        kill "$qsd_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

step() {
    echo
    echo "\$ $*"
    "$@"
}

echo "Strata demo in $work"

# 1. A qcow2 disk with some data on it.
step "$img" create -f qcow2 "$work/disk.qcow2" 64M
step "$io" -c 'write -P 0xa5 0 1M' -c 'write -P 0x5a 32M 512k' \
    "$work/disk.qcow2"

# 2. The daemon serves the disk; it is ready once its pid file exists.
echo
echo "\$ $qsd --daemonize --pidfile ... --chardev socket,path=$work/qmp.sock,... --blockdev ..."
"$qsd" --daemonize --pidfile "$work/qsd.pid" \
    --chardev socket,id=qmp,path="$work/qmp.sock",server=on,wait=off \
    --monitor chardev=qmp \
    --blockdev file,node-name=disk-file,filename="$work/disk.qcow2" \
    --blockdev qcow2,node-name=disk,file=disk-file
qsd_pid=$(cat "$work/qsd.pid")

# 3. Backup targets, made beforehand: the full backup, and the incremental
# one on top of it.
step "$img" create -f qcow2 "$work/full.qcow2" 64M
step "$img" create -f qcow2 -b "$work/full.qcow2" -F qcow2 \
    "$work/inc1.qcow2" 64M

# 4. Over QMP: a full backup and a new dirty bitmap in one transaction, the
# guest writes, then an incremental backup of what the bitmap recorded.
python3 - "$work" <<'PYEOF'
import json, socket, sys

work = sys.argv[1]
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(work + '/qmp.sock')
stream = sock.makefile('rb')
events = []


def receive():
    msg = json.loads(stream.readline())
    if 'event' in msg:
        events.append(msg)
    return msg


def qmp(name, **args):
    request = {'execute': name}
    if args:
        request['arguments'] = args
    print('\n-> ' + json.dumps(request))
    sock.sendall(json.dumps(request).encode())
    while True:
        reply = receive()
        if 'event' not in reply:
            break
    text = json.dumps(reply)
    print('<- ' + (text if len(text) < 300 else text[:296] + ' ...'))
    if 'error' in reply:
        sys.exit('demo: %s failed: %s' % (name, reply['error']['desc']))
    return reply['return']


def wait_job(job):
    while True:
        for ev in events:
            if ev['event'] in ('BLOCK_JOB_COMPLETED', 'BLOCK_JOB_CANCELLED') \
                    and ev['data']['device'] == job:
                events.remove(ev)
                print('<- ' + json.dumps(ev['data']))
                if ev['event'] != 'BLOCK_JOB_COMPLETED' or \
                        'error' in ev['data']:
                    sys.exit('demo: job %s failed' % job)
                return
        receive()


receive()   # greeting
qmp('qmp_capabilities')
for name in ('full', 'inc1'):
    qmp('blockdev-add', driver='qcow2', **{'node-name': name},
        file={'driver': 'file', 'filename': '%s/%s.qcow2' % (work, name)},
        backing=None)
qmp('transaction', actions=[
    {'type': 'block-dirty-bitmap-add',
     'data': {'node': 'disk', 'name': 'bitmap0', 'persistent': True}},
    {'type': 'blockdev-backup',
     'data': {'job-id': 'backup-full', 'device': 'disk', 'target': 'full',
              'sync': 'full'}}])
wait_job('backup-full')

# The guest writes while nobody is looking.
print(qmp('human-monitor-command',
          **{'command-line': 'qemu-io disk "write -P 0x3c 8M 2M"'}), end='')
print(qmp('human-monitor-command',
          **{'command-line': 'qemu-io disk "write -P 0x11 63M 64k"'}), end='')
info = qmp('query-named-block-nodes', flat=True)
for node in info:
    for bm in node.get('dirty-bitmaps', []):
        print('bitmap %s on %s: %d dirty bytes' % (bm['name'],
                                                    node['node-name'],
                                                    bm['count']))

qmp('blockdev-backup', **{'job-id': 'backup-inc1', 'device': 'disk',
                          'target': 'inc1', 'sync': 'incremental',
                          'bitmap': 'bitmap0'})
wait_job('backup-inc1')
qmp('quit')
PYEOF
# The daemon closes every node (and stores the bitmap) before it exits.
while kill -0 "$qsd_pid" 2>/dev/null; do sleep 0.1; done
qsd_pid=

# 5. The backup chain (inc1 on top of full) holds exactly the disk, which
# the daemon left clean, with its bitmap stored.
step "$img" compare "$work/disk.qcow2" "$work/inc1.qcow2"
step "$img" check "$work/disk.qcow2"
step "$img" info --backing-chain "$work/inc1.qcow2"
step "$img" info "$work/disk.qcow2"
if command -v qemu-img >/dev/null; then
    # QEMU's own tool agrees.
    step qemu-img compare "$work/disk.qcow2" "$work/inc1.qcow2"
    step qemu-img check "$work/inc1.qcow2"
fi

echo
echo "demo: all steps succeeded"
