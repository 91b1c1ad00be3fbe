"""iotests.py: helpers for Python iotests (standard library only).

A Python test is an executable script run by ./check; it imports this module
(the runner puts tests/qemu-iotests on PYTHONPATH), prints what it observes,
and its output is compared with the golden file.  The filters here are the
Python twins of common.filter and must stay in step with it.

Contents: environment, skipping, filters, running the tools, images, lock
probing, a small QMP client and a qemu-storage-daemon launcher.
"""

import errno
import fcntl
import json
import os
import re
import socket
import struct
import subprocess
import sys
import time

# ---------------------------------------------------------------------------
# Environment set by ./check (see README.md).

def _env(name, default=''):
    return os.environ.get(name, default)

QEMU_IMG = _env('QEMU_IMG_PROG', _env('QEMU_IMG'))
QEMU_IO = _env('QEMU_IO_PROG', _env('QEMU_IO'))
QEMU_NBD = _env('QEMU_NBD_PROG', _env('QEMU_NBD'))
QSD = _env('QSD_PROG', _env('QSD'))
STRATA_VMA = _env('STRATA_VMA')
REF_QEMU_IMG = _env('REF_QEMU_IMG', 'qemu-img')
REF_QEMU_IO = _env('REF_QEMU_IO', 'qemu-io')
REF_QEMU_NBD = _env('REF_QEMU_NBD', 'qemu-nbd')
REF_QSD = _env('REF_QSD', 'qemu-storage-daemon')

IMGFMT = _env('IMGFMT', 'raw')
IMGPROTO = _env('IMGPROTO', 'file')
TEST_DIR = _env('TEST_DIR', '/tmp')
SOCK_DIR = _env('SOCK_DIR', TEST_DIR)
SAMPLE_IMG_DIR = _env('SAMPLE_IMG_DIR')
NOTRUN_FILE = _env('NOTRUN_FILE')
TEST_IMG = os.path.join(TEST_DIR, 't.' + IMGFMT)

# Exit status that tells the runner "not run".
NOTRUN_STATUS = 77


def notrun(reason):
    """Skip the test; the runner prints REASON."""
    if NOTRUN_FILE:
        with open(NOTRUN_FILE, 'w') as f:
            f.write(reason + '\n')
    print('not run: ' + reason)
    sys.stdout.flush()
    sys.exit(NOTRUN_STATUS)


def supported_formats(formats):
    if IMGFMT not in formats and 'generic' not in formats:
        notrun('not suitable for this image format: ' + IMGFMT)


def supported_protocols(protocols):
    if IMGPROTO not in protocols and 'generic' not in protocols:
        notrun('not suitable for this image protocol: ' + IMGPROTO)


def _tool_usable(path):
    if not path:
        return False
    if os.path.sep in path:
        return os.access(path, os.X_OK)
    return any(os.access(os.path.join(d, path), os.X_OK)
               for d in _env('PATH').split(os.pathsep) if d)


def require_tools(*names):
    """Skip unless every named tool exists.  NAMES are the environment
    variable names: 'QEMU_IMG', 'QEMU_IO', 'QSD', 'REF_QEMU_IO', ..."""
    for name in names:
        path = globals().get(name, _env(name))
        if not _tool_usable(path):
            notrun('%s not available (%s)' % (name, path or 'unset'))


# ---------------------------------------------------------------------------
# Filters.  Each takes and returns a string (possibly several lines).

_QEMU_IO_STATS = re.compile(
    r'^([0-9.]+ (?:bytes|[KMGTPE]iB)), [0-9]+ ops; [0-9:.]+(?: sec)? '
    r'\([0-9.]+ [A-Za-z]+/sec and [0-9.]+ ops/sec\)$', re.M)
_QEMU_IO_STATS_C = re.compile(
    r'^([0-9]+),([0-9]+),[0-9]+:[0-9]+:[0-9]+\.[0-9]+,[0-9.]+,[0-9.]+$', re.M)


def filter_qemu_io_timing(text):
    text = _QEMU_IO_STATS.sub(
        r'\1, X ops; XX:XX:XX.X (XXX YYY/sec and XXX ops/sec)', text)
    return _QEMU_IO_STATS_C.sub(r'\1,\2,X:XX:XX.XX,XXX,XXX', text)


def filter_testdir(text):
    dirs = [(SOCK_DIR, 'SOCK_DIR'), (TEST_DIR, 'TEST_DIR')]
    # The longer path first, in case one directory lies inside the other.
    dirs.sort(key=lambda d: -len(d[0]))
    for path, name in dirs:
        if path:
            text = text.replace(path, name)
    return text


def filter_imgfmt(text):
    return re.sub(r'\b%s\b' % re.escape(IMGFMT), 'IMGFMT', text)


def filter_prog_names(text):
    text = re.sub(r'^[^ :\n]*/(strata|qemu)-(img|io|nbd|storage-daemon):',
                  r'\1-\2:', text, flags=re.M)
    text = re.sub(r'^strata-(img|io|nbd|storage-daemon|vma)([: ])',
                  r'qemu-\1\2', text, flags=re.M)
    text = re.sub(r'^(Usage: )strata-(img|io|nbd|storage-daemon)\b',
                  r'\1qemu-\2', text, flags=re.M)
    text = re.sub(r"(See '|[Tt]ry '|use ')strata-(img|io|nbd)\b",
                  r'\1qemu-\2', text)
    return re.sub(r'^strata-vma', 'vma', text, flags=re.M)


def filter_qemu_io(text):
    return filter_testdir(filter_prog_names(filter_qemu_io_timing(text)))


def filter_qemu_img(text):
    return filter_testdir(filter_prog_names(text))


def filter_img_create(text):
    text = filter_qemu_img(text)
    return re.sub(r"^(Formatting '[^']*', fmt=)%s " % re.escape(IMGFMT),
                  r'\1IMGFMT ', text, flags=re.M)


def filter_actual_size(text):
    text = re.sub(r'^disk size: .*$', 'disk size: SIZE', text, flags=re.M)
    return re.sub(r'("actual-size": )[0-9]+', r'\1SIZE', text)


def filter_qemu_img_map(text):
    text = filter_qemu_img(text)
    text = re.sub(r'^(0x[0-9a-f]+|0)( +)(0x[0-9a-f]+)( +)(0x[0-9a-f]+|0)( +)',
                  r'\1\2\3\4OFFSET\6', text, flags=re.M)
    return re.sub(r'("offset": )[0-9]+', r'\1OFFSET', text)


def filter_qemu_img_progress(text):
    text = text.replace('\r', '\n')
    lines = text.split('\n')
    if text.endswith('\n'):
        lines.pop()
    out = []
    for line in lines:
        m = re.match(r'^ +\(([0-9]+\.[0-9]+)/100%\)$', line)
        if m and m.group(1) not in ('0.00', '100.00'):
            continue
        if out and out[-1] == line:
            continue
        out.append(line)
    # Messages after a record start right after its \r: filter program
    # names again now that they begin a line.
    return filter_prog_names('\n'.join(out) +
                             ('\n' if text.endswith('\n') else ''))


def filter_qemu_img_bench(text):
    return re.sub(r'^Run completed in [0-9.]+ seconds\.$',
                  'Run completed in X.XXX seconds.', filter_qemu_img(text),
                  flags=re.M)


def filter_qmp_timestamps(obj):
    """Replace every QMP "timestamp" member (in a dict, list or string)."""
    if isinstance(obj, dict):
        return {k: ({'seconds': 'SECS', 'microseconds': 'USECS'}
                    if k == 'timestamp' else filter_qmp_timestamps(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [filter_qmp_timestamps(v) for v in obj]
    if isinstance(obj, str):
        obj = re.sub(r'"seconds": *[0-9]+', '"seconds": "SECS"', obj)
        return re.sub(r'"microseconds": *[0-9]+', '"microseconds": "USECS"',
                      obj)
    return obj


def filter_qmp_testdir(obj):
    """filter_testdir applied to every string inside a QMP object."""
    if isinstance(obj, dict):
        return {k: filter_qmp_testdir(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [filter_qmp_testdir(v) for v in obj]
    if isinstance(obj, str):
        return filter_prog_names(filter_testdir(obj))
    return obj


def filter_qmp(obj):
    return filter_qmp_testdir(filter_qmp_timestamps(obj))


# ---------------------------------------------------------------------------
# Output.

def log(msg, filters=()):
    """Print MSG (a string, or an object printed as sorted JSON) after
    applying each filter in FILTERS."""
    if not isinstance(msg, str):
        for f in filters:
            msg = f(msg)
        msg = json.dumps(msg, sort_keys=True)
    else:
        for f in filters:
            msg = f(msg)
    print(msg.rstrip('\n') if msg.endswith('\n') else msg)
    sys.stdout.flush()


# ---------------------------------------------------------------------------
# Running the tools.  Output is stdout and stderr merged, as a terminal
# shows it.

def run(args, stdin=None):
    """Run ARGS; return (merged output, exit status)."""
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL if stdin is None else None,
                       input=stdin, universal_newlines=True,
                       errors='surrogateescape')
    return p.stdout, p.returncode


def _emit(text):
    if text:
        sys.stdout.write(text if text.endswith('\n') else text + '\n')
        sys.stdout.flush()


def qemu_img_pipe(*args):
    """Filtered output of $QEMU_IMG ARGS."""
    return filter_qemu_img(run([QEMU_IMG] + list(args))[0])


def qemu_img(*args):
    """Run $QEMU_IMG ARGS, print its filtered output, return its status."""
    out, status = run([QEMU_IMG] + list(args))
    _emit(filter_qemu_img(out))
    return status


def qemu_img_log(*args, filters=(filter_qemu_img,)):
    """Print the command's filtered output followed by "exit: N"."""
    out, status = run([QEMU_IMG] + list(args))
    for f in filters:
        out = f(out)
    _emit(out)
    print('exit: %d' % status)
    return status


def qemu_img_silent(*args):
    return run([QEMU_IMG] + list(args))[1]


def qemu_img_json(*args):
    """Parse the JSON printed by $QEMU_IMG ARGS (which should include
    --output=json); raise if it fails."""
    out, status = run([QEMU_IMG] + list(args))
    if status != 0:
        raise RuntimeError('qemu-img failed (%d): %s' % (status, out))
    return json.loads(out)


def qemu_io_pipe(*args):
    return filter_qemu_io(run([QEMU_IO] + list(args))[0])


def qemu_io(*args):
    out, status = run([QEMU_IO] + list(args))
    _emit(filter_qemu_io(out))
    return status


def qemu_io_log(*args):
    status = qemu_io(*args)
    print('exit: %d' % status)
    return status


def qemu_io_silent(*args):
    return run([QEMU_IO] + list(args))[1]


def ref_qemu_img(*args):
    out, status = run([REF_QEMU_IMG] + list(args))
    _emit(filter_qemu_img(out))
    return status


def ref_qemu_io(*args):
    out, status = run([REF_QEMU_IO] + list(args))
    _emit(filter_qemu_io(out))
    return status


# ---------------------------------------------------------------------------
# Images.

_created_images = []


def create_image(path=None, size='1M', fmt=None, opts=None, backing=None,
                 backing_fmt=None, tool=None):
    """Create an image (TEST_IMG by default) silently; raise on failure."""
    path = path or TEST_IMG
    args = [tool or QEMU_IMG, 'create', '-f', fmt or IMGFMT]
    if backing:
        args += ['-b', backing]
        if backing_fmt:
            args += ['-F', backing_fmt]
    if opts:
        args += ['-o', opts]
    args += [path, str(size)]
    out, status = run(args)
    if status != 0:
        raise RuntimeError('creating %s failed: %s' % (path, out))
    _created_images.append(path)
    return path


def cleanup_images():
    for path in _created_images:
        try:
            os.remove(path)
        except OSError:
            pass
    del _created_images[:]


def allocated_bytes(path):
    return os.stat(path).st_blocks * 512


# ---------------------------------------------------------------------------
# QEMU's image locks (see TESTING-NOTES.md): a process that has an image open
# holds shared OFD locks on byte 100+i for each permission bit i it uses and
# on 200+i for each bit it refuses to share.

PERM_NAMES = ['consistent read', 'write', 'write unchanged', 'resize']

F_OFD_GETLK = getattr(fcntl, 'F_OFD_GETLK', 36)


def lock_is_held(path, byte):
    """True if another open file description holds a lock on BYTE of PATH."""
    fd = os.open(path, os.O_RDONLY)
    try:
        # struct flock: short l_type, short l_whence, off_t l_start,
        # off_t l_len, pid_t l_pid (+ padding)
        arg = struct.pack('hhqqi4x', fcntl.F_WRLCK, os.SEEK_SET, byte, 1, 0)
        res = fcntl.fcntl(fd, F_OFD_GETLK, arg)
        return struct.unpack('hhqqi4x', res)[0] != fcntl.F_UNLCK
    finally:
        os.close(fd)


def held_locks(path):
    """Describe which QEMU lock bytes are held on PATH."""
    used = [PERM_NAMES[i] for i in range(4) if lock_is_held(path, 100 + i)]
    unshared = [PERM_NAMES[i] for i in range(4)
                if lock_is_held(path, 200 + i)]
    return 'uses: %s; does not share: %s' % (', '.join(used) or '-',
                                             ', '.join(unshared) or '-')


def wait_for_lock(path, byte=100, timeout=30.0):
    """Wait until BYTE of PATH is locked by someone (a process has opened the
    image).  Returns False if that did not happen within TIMEOUT seconds;
    the timeout only prevents a hang and is never the thing tested."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and lock_is_held(path, byte):
            return True
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------------------
# QMP client.

class QMPError(Exception):
    pass


class QMPClient:
    """A minimal QMP client over a UNIX socket.

    cmd() returns the reply dict ({"return": ...} or {"error": ...}); events
    that arrive meanwhile are queued and read with get_events() or
    event_wait().  Timeouts only keep a broken peer from hanging the test.
    """

    def __init__(self, path, timeout=60.0):
        self.path = path
        self.timeout = timeout
        self.events = []
        self.greeting = None
        self._sock = None
        self._buf = b''

    def connect(self, negotiate=True, retry_until=None):
        """Connect; if RETRY_UNTIL (a time.monotonic() value) is given, keep
        trying while the socket does not exist or refuses."""
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.path)
                break
            except OSError as e:
                s.close()
                if (retry_until is None or time.monotonic() > retry_until or
                        e.errno not in (errno.ENOENT, errno.ECONNREFUSED)):
                    raise
                time.sleep(0.05)
        self._sock = s
        self.greeting = self._read_msg(self.timeout)
        if 'QMP' not in self.greeting:
            raise QMPError('unexpected greeting: %r' % self.greeting)
        if negotiate:
            reply = self.cmd('qmp_capabilities')
            if 'return' not in reply:
                raise QMPError('qmp_capabilities failed: %r' % reply)
        return self.greeting

    def close(self):
        if self._sock:
            self._sock.close()
            self._sock = None

    def _read_msg(self, timeout):
        deadline = time.monotonic() + timeout
        while b'\n' not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise QMPError('timed out waiting for QMP message')
            self._sock.settimeout(left)
            try:
                data = self._sock.recv(65536)
            except socket.timeout:
                raise QMPError('timed out waiting for QMP message')
            except OSError as e:
                raise QMPError('QMP connection failed: %s' % e)
            if not data:
                raise QMPError('QMP connection closed')
            self._buf += data
        line, self._buf = self._buf.split(b'\n', 1)
        return json.loads(line.decode('utf-8'))

    def send(self, msg):
        self._sock.sendall(json.dumps(msg).encode('utf-8') + b'\n')

    def cmd_obj(self, msg):
        """Send a whole QMP message; return the reply, queueing events."""
        self.send(msg)
        while True:
            reply = self._read_msg(self.timeout)
            if 'event' in reply:
                self.events.append(reply)
                continue
            return reply

    def cmd(self, name, args=None, **kwargs):
        """Execute command NAME.  Arguments come from ARGS (a dict, used as
        is) and from keyword arguments, whose underscores become dashes
        (job_id= -> "job-id")."""
        arguments = dict(args or {})
        for k, v in kwargs.items():
            arguments[k.replace('_', '-')] = v
        msg = {'execute': name}
        if arguments:
            msg['arguments'] = arguments
        return self.cmd_obj(msg)

    def cmd_log(self, name, args=None, filters=(filter_qmp,), **kwargs):
        """Print the command and its filtered reply; return the reply."""
        arguments = dict(args or {})
        for k, v in kwargs.items():
            arguments[k.replace('_', '-')] = v
        msg = {'execute': name}
        if arguments:
            msg['arguments'] = arguments
        log(msg, filters)
        reply = self.cmd_obj(msg)
        log(reply, filters)
        return reply

    def _pull_event(self, timeout):
        self.events.append(self._read_msg(timeout))

    def get_events(self, wait=0.0):
        """Return and clear queued events, first reading whatever arrives
        within WAIT seconds."""
        if wait:
            deadline = time.monotonic() + wait
            try:
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._pull_event(left)
            except QMPError:
                pass
        events, self.events = self.events, []
        return events

    def event_wait(self, name, timeout=60.0, match=None):
        """Wait for event NAME whose data contains MATCH (a dict of expected
        members); return it and drop it from the queue, keeping others."""
        deadline = time.monotonic() + timeout
        while True:
            for i, ev in enumerate(self.events):
                if ev.get('event') == name and _matches(ev.get('data', {}),
                                                        match):
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise QMPError('timed out waiting for event %s' % name)
            self._pull_event(left)

    def clear_events(self):
        self.events = []


def _matches(data, match):
    if match is None:
        return True
    if isinstance(match, dict):
        return isinstance(data, dict) and all(
            k in data and _matches(data[k], v) for k, v in match.items())
    return data == match


# ---------------------------------------------------------------------------
# qemu-storage-daemon.

class QSDProcess:
    """Run a storage daemon with a QMP monitor on a UNIX socket.

        with QSDProcess(['--blockdev', 'file,filename=...,node-name=f']) as qsd:
            qsd.cmd('query-block-jobs')

    BINARY defaults to $QSD (Strata's daemon, or QEMU's with --qemu); pass
    REF_QSD for QEMU's own as a peer.  The daemon's output goes to a log file
    in TEST_DIR; output() returns it filtered.
    """

    _count = 0

    def __init__(self, args=(), binary=None, name=None, wrapper=()):
        QSDProcess._count += 1
        self.name = name or 'qsd%d' % QSDProcess._count
        self.binary = binary or QSD
        self.args = list(args)
        # A command the daemon runs under, such as ['valgrind', ...].
        self.wrapper = list(wrapper)
        self.sock_path = os.path.join(SOCK_DIR, self.name + '-qmp.sock')
        self.log_path = os.path.join(TEST_DIR, self.name + '.log')
        self.proc = None
        self.qmp = None

    def start(self, timeout=60.0):
        if os.path.exists(self.sock_path):
            os.remove(self.sock_path)
        argv = self.wrapper + [self.binary,
                '--chardev', 'socket,id=m,path=%s,server=on,wait=off'
                % self.sock_path,
                '--monitor', 'chardev=m'] + self.args
        self._log = open(self.log_path, 'w')
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self._log,
                                     stderr=subprocess.STDOUT)
        self.qmp = QMPClient(self.sock_path)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.qmp.connect(retry_until=time.monotonic() + 0.2)
                break
            except OSError:
                if self.proc.poll() is not None:
                    raise QMPError('%s exited (%d) before QMP was up: %s' %
                                   (self.name, self.proc.returncode,
                                    self.output()))
                if time.monotonic() > deadline:
                    raise
        return self

    def cmd(self, name, args=None, **kwargs):
        return self.qmp.cmd(name, args, **kwargs)

    def cmd_log(self, name, args=None, **kwargs):
        return self.qmp.cmd_log(name, args, **kwargs)

    def stop(self, timeout=60.0):
        """Ask the daemon to quit over QMP; kill it if it does not.
        Returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None and self.qmp and self.qmp._sock:
            try:
                self.qmp.cmd('quit')
            except (QMPError, OSError):
                pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.qmp:
            self.qmp.close()
        self._log.close()
        status = self.proc.returncode
        self.proc = None
        return status

    def output(self):
        try:
            with open(self.log_path) as f:
                return filter_qemu_img(f.read())
        except OSError:
            return ''

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


# ---------------------------------------------------------------------------
# Interactive tool sessions (for holding an image open).

class InteractiveTool:
    """A qemu-io style program reading commands from a pipe.

    Output is collected into a log file; send() writes one command line."""

    def __init__(self, args, name='holder'):
        self.log_path = os.path.join(TEST_DIR, name + '.log')
        self._log = open(self.log_path, 'w')
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE,
                                     stdout=self._log,
                                     stderr=subprocess.STDOUT,
                                     universal_newlines=True)

    def send(self, line):
        self.proc.stdin.write(line + '\n')
        self.proc.stdin.flush()

    def wait_for_output(self, text, timeout=60.0):
        """Wait until TEXT appears in the output; False on timeout or if
        the program exited first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return True
            if self.proc.poll() is not None:
                return text in self.output()
            time.sleep(0.05)
        return False

    def close(self, timeout=60.0):
        """Send "quit" (and close stdin); return the exit status."""
        if self.proc.poll() is None:
            try:
                self.send('quit')
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def output(self):
        with open(self.log_path) as f:
            return f.read()


# ---------------------------------------------------------------------------
# Command-line use by bash helpers:  iotests.py wait-for-lock FILE [TIMEOUT]

def _main(argv):
    if len(argv) >= 2 and argv[0] == 'wait-for-lock':
        timeout = float(argv[2]) if len(argv) > 2 else 30.0
        if wait_for_lock(argv[1], timeout=timeout):
            return 0
        print('no process took a lock on %s' % filter_testdir(argv[1]))
        return 1
    if len(argv) == 2 and argv[0] == 'held-locks':
        print(held_locks(argv[1]))
        return 0
    sys.stderr.write('usage: iotests.py wait-for-lock FILE [TIMEOUT] | '
                     'held-locks FILE\n')
    return 2


if __name__ == '__main__':
    sys.exit(_main(sys.argv[1:]))
