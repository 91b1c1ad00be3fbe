"""backups.py: what the backup iotests share (standard library only).

A storage daemon with qcow2 drives, each exported writable over NBD: the
"guest" is Debian's qemu-io writing through the export (qemu-storage-daemon
has no human-monitor-command, so the same script drives both daemons, and
the export's writes pass the copy-before-write filter as a guest's would).
Points in time are raw copies of what the guest saw; a backup chain is
checked against them with the tool under test, with Debian's qemu-img, and
by converting it with Debian's qemu-img.
"""

import json
import os

import iotests
from iotests import log, TEST_DIR, SOCK_DIR

MiB = 1024 * 1024


class Daemon:
    """A daemon with qcow2 drives DRIVES (name -> image path), each
    exported as NBD export NAME on one UNIX socket."""

    def __init__(self, drives, binary=None, name=None, extra=()):
        self.drives = dict(drives)
        self.name = name or 'qsd'
        self.sock = os.path.join(SOCK_DIR, self.name + '-nbd.sock')
        args = []
        for drive, path in self.drives.items():
            args += ['--blockdev', 'file,filename=%s,node-name=%s-file'
                     % (path, drive),
                     '--blockdev', 'qcow2,file=%s-file,node-name=%s'
                     % (drive, drive)]
        args += ['--nbd-server', 'addr.type=unix,addr.path=%s' % self.sock]
        for drive in self.drives:
            args += ['--export', 'nbd,id=exp-%s,node-name=%s,name=%s,'
                     'writable=on' % (drive, drive, drive)]
        self.qsd = iotests.QSDProcess(args + list(extra), binary=binary,
                                      name=self.name)
        self.qsd.start()
        self.events = []

    # ---- QMP ----

    @staticmethod
    def _args(args):
        return {k.replace('_', '-'): v for k, v in args.items()
                if v is not None}

    def cmd(self, command, /, **args):
        """Run COMMAND; keyword arguments' underscores become dashes (and
        None leaves an argument out)."""
        return self.qsd.cmd(command, self._args(args))

    def cmd_log(self, command, /, **args):
        """Log the command and its reply (scratch paths filtered)."""
        return self.qsd.cmd_log(command, self._args(args))

    def transaction(self, actions, **props):
        args = {'actions': actions}
        if props:
            args['properties'] = {k.replace('_', '-'): v
                                  for k, v in props.items()}
        return self.qsd.cmd_log('transaction', args)

    def wait_jobs(self, *ids):
        """Wait until each job reported 'null', then log the events of
        each job, one job after the other (the order between concurrent
        jobs is not deterministic; within one job it is)."""
        pending = set(ids)
        while True:
            for e in self.qsd.qmp.get_events():
                self.events.append(e)
                if e['event'] == 'JOB_STATUS_CHANGE' and \
                        e['data']['status'] == 'null':
                    pending.discard(e['data']['id'])
            if not pending:
                break
            self.qsd.qmp._pull_event(self.qsd.qmp.timeout)
        for job in ids:
            self.show_job_events(job)

    def mark(self):
        """A point in the event stream, for wait_event's SINCE."""
        self.events += self.qsd.qmp.get_events()
        return len(self.events)

    def wait_event(self, name, since=0, **match):
        """Wait for event NAME whose data has the members MATCH (and that
        came after the mark SINCE); the event stays queued for
        show_job_events."""
        def found():
            return any(e['event'] == name and
                       all(e['data'].get(k) == v for k, v in match.items())
                       for e in self.events[since:])
        while True:
            self.events += self.qsd.qmp.get_events()
            if found():
                return
            self.qsd.qmp._pull_event(self.qsd.qmp.timeout)

    def show_job_events(self, job):
        """Log JOB_STATUS_CHANGE as a status list and the BLOCK_JOB_*
        events of JOB in full; drop them from the queue."""
        mine = [e for e in self.events
                if e['data'].get('id', e['data'].get('device')) == job]
        self.events = [e for e in self.events if e not in mine]
        statuses = []
        for e in mine:
            if e['event'] == 'JOB_STATUS_CHANGE':
                statuses.append(e['data']['status'])
            else:
                if statuses:
                    log('%s: %s' % (job, ' '.join(statuses)))
                    statuses = []
                log(iotests.filter_qmp({'event': e['event'],
                                        'data': e['data']}))
        if statuses:
            log('%s: %s' % (job, ' '.join(statuses)))

    def bitmaps(self, drive):
        """Log the named bitmaps of DRIVE: name, count, and states."""
        for n in self.cmd('query-named-block-nodes', flat=True)['return']:
            if n['node-name'] != drive:
                continue
            for b in n.get('dirty-bitmaps', []):
                if 'name' not in b:
                    continue
                flags = [k for k in ('recording', 'busy', 'persistent',
                                     'inconsistent') if b.get(k)]
                log('%s/%s: count %d, granularity %d, %s'
                    % (drive, b['name'], b['count'], b['granularity'],
                       ', '.join(flags) or 'disabled'))

    def add_target(self, node, path, fail_write=False, fail_at=None):
        """blockdev-add NODE, a qcow2 image at PATH.  FAIL_WRITE: its
        first data write fails with EIO (blkdebug between the qcow2 node
        and its file).  FAIL_AT: the first write that covers the guest
        offset FAIL_AT fails (NODE is then a blkdebug node above the qcow2
        node, named NODE-qcow2)."""
        image = {'driver': 'file', 'filename': path}
        if fail_write:
            image = {'driver': 'blkdebug', 'image': image,
                     'inject-error': [{'event': 'write_aio', 'errno': 5,
                                       'once': True}]}
        if fail_at is not None:
            rule = {'event': 'pwritev', 'errno': 5, 'once': True,
                    'sector': fail_at // 512}
            self.cmd_log('blockdev-add', node_name=node, driver='blkdebug',
                         image={'node-name': node + '-qcow2',
                                'driver': 'qcow2', 'file': image},
                         inject_error=[rule])
            return
        self.cmd_log('blockdev-add', node_name=node, driver='qcow2',
                     file=image)

    def stop(self):
        status = self.qsd.stop()
        if status:
            log('%s exit status: %d' % (self.name, status))
        out = self.qsd.output()
        if out:
            log(out)

    # ---- the guest ----

    def nbd_uri(self, drive):
        return 'nbd+unix:///%s?socket=%s' % (drive, self.sock)

    def guest(self, drive, *commands):
        """Write through DRIVE's export with Debian's qemu-io; log the
        commands, and the output only if something failed."""
        log('guest %s: %s' % (drive, '; '.join(commands)))
        args = [iotests.REF_QEMU_IO, '-f', 'raw']
        for c in commands:
            args += ['-c', c]
        out, status = iotests.run(args + [self.nbd_uri(drive)])
        if status != 0 or 'failed' in out or 'error' in out.lower():
            log(iotests.filter_qemu_io(out))

    def point_in_time(self, drive, name):
        """A raw copy of what the guest sees now; returns its path."""
        path = os.path.join(TEST_DIR, name + '.raw')
        out, status = iotests.run([iotests.REF_QEMU_IMG, 'convert', '-f',
                                   'raw', '-O', 'raw', self.nbd_uri(drive),
                                   path])
        if status != 0:
            log(iotests.filter_qemu_img(out))
        return path


def create_target(name, size, backing=None):
    """A qcow2 image made with the tool under test (with BACKING as a
    qcow2 backing file); returns its path."""
    path = os.path.join(TEST_DIR, name)
    args = [iotests.QEMU_IMG, 'create', '-q', '-f', 'qcow2']
    if backing:
        args += ['-b', backing, '-F', 'qcow2']
    out, status = iotests.run(args + [path, str(size)])
    if status != 0:
        log(iotests.filter_qemu_img(out))
    return path


def check_chain(top, point, label):
    """Compare the chain ending in TOP with the raw point in time POINT:
    with the tool under test and with Debian's qemu-img, and by converting
    the chain with Debian's qemu-img; also check TOP's metadata."""
    for who, tool in (('strata-img', iotests.QEMU_IMG),
                      ('qemu-img', iotests.REF_QEMU_IMG)):
        out, status = iotests.run([tool, 'compare', '-f', 'qcow2', '-F',
                                   'raw', top, point])
        log('%s: %s compare: %s' % (label, who,
                                    iotests.filter_qemu_img(out).strip()))
    copy = os.path.join(TEST_DIR, 'converted.raw')
    out, status = iotests.run([iotests.REF_QEMU_IMG, 'convert', '-f',
                               'qcow2', '-O', 'raw', top, copy])
    if status != 0:
        log(iotests.filter_qemu_img(out))
    with open(copy, 'rb') as a, open(point, 'rb') as b:
        same = a.read() == b.read()
    os.remove(copy)
    log('%s: converted by qemu-img: %s' % (label, 'same bytes' if same
                                           else 'DIFFERENT'))
    out, status = iotests.run([iotests.REF_QEMU_IMG, 'check', top])
    log('%s: qemu-img check: %s' % (label, 'clean' if status == 0 else
                                    iotests.filter_qemu_img(out)))


def allocated(path):
    """The data ranges qemu-img map reports for PATH's own layer, as
    (offset, length) pairs, adjacent ones merged (host offsets, and so
    how map splits ranges, depend on the order clusters were written)."""
    out, status = iotests.run([iotests.REF_QEMU_IMG, 'map', '-U',
                               '--output=json', path])
    ranges = []
    for m in json.loads(out):
        if m['depth'] != 0 or not m['data']:
            continue
        if ranges and sum(ranges[-1]) == m['start']:
            ranges[-1] = (ranges[-1][0], ranges[-1][1] + m['length'])
        else:
            ranges.append((m['start'], m['length']))
    return ranges
