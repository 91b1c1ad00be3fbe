"""bitmaps.py: what the dirty-bitmap iotests share (standard library only).

Writing into a daemon's node through an NBD export with Debian's qemu-io
(qemu-storage-daemon has no human-monitor-command, so this works against
both daemons), printing a node's bitmaps, and the sha256 that
x-debug-block-dirty-bitmap-sha256 must report for a given set of writes.
"""

import hashlib
import json
import os

import iotests
from iotests import log, SOCK_DIR


def expected_sha256(size, granularity, writes):
    """The hash QEMU reports for a bitmap of SIZE bytes at GRANULARITY
    after WRITES ((offset, length) pairs): one bit per granule, least
    significant bit first, in 64-bit words."""
    bits = (size + granularity - 1) // granularity
    data = bytearray((bits + 63) // 64 * 8)
    for offset, length in writes:
        for bit in range(offset // granularity,
                         (offset + length - 1) // granularity + 1):
            data[bit // 8] |= 1 << (bit % 8)
    return hashlib.sha256(bytes(data)).hexdigest()


class NBDWriter:
    """A writable NBD export of NODE on QSD, written with Debian's
    qemu-io."""

    def __init__(self, qsd, node, export_id='w0', sock_name='bm-nbd.sock'):
        self.qsd = qsd
        self.node = node
        self.id = export_id
        self.sock = os.path.join(SOCK_DIR, sock_name)
        self.started_server = False

    def __enter__(self):
        reply = self.qsd.cmd('nbd-server-start',
                             addr={'type': 'unix',
                                   'data': {'path': self.sock}})
        self.started_server = 'return' in reply
        reply = self.qsd.cmd('block-export-add', type='nbd', id=self.id,
                             node_name=self.node, writable=True)
        assert 'return' in reply, reply
        return self

    def io(self, *commands):
        """Run qemu-io COMMANDS against the export; print only failures."""
        args = [iotests.REF_QEMU_IO, '-f', 'raw']
        for c in commands:
            args += ['-c', c]
        args.append('nbd+unix:///%s?socket=%s' % (self.node, self.sock))
        out, status = iotests.run(args)
        if status != 0 or 'error' in out.lower():
            log(iotests.filter_qemu_io(out))

    def __exit__(self, *exc):
        self.qsd.cmd('block-export-del', id=self.id)
        self.qsd.qmp.event_wait('BLOCK_EXPORT_DELETED',
                                match={'id': self.id})
        if self.started_server:
            self.qsd.cmd('nbd-server-stop')
        return False


def node_info(qsd, node):
    for n in qsd.cmd('query-named-block-nodes', flat=True)['return']:
        if n['node-name'] == node:
            return n
    raise KeyError(node)


def show_bitmaps(qsd, node):
    """Log the dirty-bitmaps member of NODE (one line per bitmap)."""
    bitmaps = node_info(qsd, node).get('dirty-bitmaps')
    if bitmaps is None:
        log('%s: no dirty-bitmaps member' % node)
        return
    log('%s: %d bitmap(s)' % (node, len(bitmaps)))
    for b in bitmaps:
        log(b)


def show_stored(qsd, node):
    """Log the bitmaps of NODE's image as format-specific data shows
    them."""
    spec = node_info(qsd, node)['image'].get('format-specific', {})
    log('%s stored: %s' % (node, json.dumps(
        spec.get('data', {}).get('bitmaps'), sort_keys=True)))


def sha256(qsd, node, name):
    reply = qsd.cmd('x-debug-block-dirty-bitmap-sha256',
                    {'node': node, 'name': name})
    return reply.get('return', {}).get('sha256', reply.get('error'))


def check_sha256(qsd, node, name, size, granularity, writes):
    """Log whether the bitmap's hash is the one WRITES must give."""
    got = sha256(qsd, node, name)
    want = expected_sha256(size, granularity, writes)
    log('%s/%s sha256 %s' % (node, name,
                              'as expected' if got == want else
                              'MISMATCH: %s, expected %s' % (got, want)))


def show_image_bitmaps(path, tool=None, check=True):
    """Log the bitmaps `qemu-img info` (Debian's unless TOOL) lists for
    the qcow2 image PATH, and whether `qemu-img check` finds it clean
    (unless not CHECK: a daemon that has the image open may not have
    written its refcounts yet)."""
    tool = tool or iotests.REF_QEMU_IMG
    out, status = iotests.run([tool, 'info', '-U', '--output=json', path])
    if status != 0:
        log(iotests.filter_qemu_img(out))
        return
    data = json.loads(out)['format-specific']['data']
    log('%s: %s' % (os.path.basename(path),
                    json.dumps(data.get('bitmaps'), sort_keys=True)))
    if not check:
        return
    out, status = iotests.run([tool, 'check', '-U', path])
    log('check: %s' % ('clean' if status == 0 else
                       iotests.filter_qemu_img(out)))
