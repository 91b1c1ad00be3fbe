#!/usr/bin/env python3
#
# Compare Strata's QMP schema with QEMU's, as query-qmp-schema shows
# them: for each command and event both have, walk the argument, return
# and data types side by side and print every difference in member
# names, optionality, types, enum values, union branches and features.
#
#   compare_qemu.py [--qemu-schema FILE | --qsd] [-D NAME]... SCHEMA
#
# With --qsd, the reference comes from a qemu-storage-daemon on PATH.
# Exits 0 when nothing differs beyond what --ignore lists.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

from qapi.gen_introspect import Introspection  # noqa: E402
from qapi.schema import Schema  # noqa: E402


def qsd_schema():
    """query-qmp-schema of a fresh qemu-storage-daemon."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'qmp.sock')
        proc = subprocess.Popen(
            ['qemu-storage-daemon', '--chardev',
             'socket,id=m,path=%s,server=on,wait=off' % path,
             '--monitor', 'chardev=m'])
        try:
            for _ in range(200):
                if os.path.exists(path):
                    break
                time.sleep(0.02)
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(path)
            f = sock.makefile('rwb')
            f.readline()
            for cmd in ('qmp_capabilities', 'query-qmp-schema'):
                f.write(json.dumps({'execute': cmd}).encode() + b'\n')
                f.flush()
                reply = json.loads(f.readline())
            sock.close()
            return reply['return']
        finally:
            proc.terminate()
            proc.wait()


class Comparer:
    def __init__(self, theirs, ours):
        self.theirs = {e['name']: e for e in theirs}
        self.ours = {e['name']: e for e in ours}
        self.diffs = []
        self.seen = set()

    def diff(self, path, msg):
        self.diffs.append('%s: %s' % (path, msg))

    def features(self, path, t, o):
        tf, of = set(t.get('features', [])), set(o.get('features', []))
        if tf != of:
            self.diff(path, 'features %s vs ours %s'
                      % (sorted(tf), sorted(of)))

    def type(self, path, tname, oname):
        if (tname, oname) in self.seen:
            return
        self.seen.add((tname, oname))
        t, o = self.theirs[tname], self.ours[oname]
        if t['meta-type'] != o['meta-type']:
            self.diff(path, 'is %s, ours is %s' % (t['meta-type'],
                                                   o['meta-type']))
            return
        meta = t['meta-type']
        self.features(path, t, o)
        if meta == 'builtin':
            if t['json-type'] != o['json-type']:
                self.diff(path, 'json-type %s vs ours %s'
                          % (t['json-type'], o['json-type']))
        elif meta == 'enum':
            tv, ov = t['values'], o['values']
            missing = [v for v in tv if v not in ov]
            extra = [v for v in ov if v not in tv]
            if missing:
                self.diff(path, 'enum values we lack: %s' % missing)
            if extra:
                self.diff(path, 'enum values QEMU lacks: %s' % extra)
            common_t = [v for v in tv if v in ov]
            common_o = [v for v in ov if v in tv]
            if common_t != common_o:
                self.diff(path, 'enum values in another order')
            tm = {m['name']: m for m in t.get('members', [])}
            for m in o.get('members', []):
                if m['name'] in tm:
                    self.features('%s=%s' % (path, m['name']), tm[m['name']],
                                  m)
        elif meta == 'array':
            self.type(path + '[]', t['element-type'], o['element-type'])
        elif meta == 'object':
            self.object(path, t, o)
        elif meta == 'alternate':
            self.alternate(path, t, o)

    def object(self, path, t, o):
        tm = {m['name']: m for m in t['members']}
        om = {m['name']: m for m in o['members']}
        for name in tm:
            if name not in om:
                self.diff(path, "member '%s' we lack" % name)
        for name in om:
            if name not in tm:
                self.diff(path, "member '%s' QEMU lacks" % name)
        for name, m in tm.items():
            if name not in om:
                continue
            p = '%s.%s' % (path, name)
            if ('default' in m) != ('default' in om[name]):
                self.diff(p, 'optional in %s only'
                          % ('QEMU' if 'default' in m else 'ours'))
            self.features(p, m, om[name])
            self.type(p, m['type'], om[name]['type'])
        if t.get('tag') != o.get('tag'):
            self.diff(path, 'tag %s vs ours %s' % (t.get('tag'),
                                                   o.get('tag')))
            return
        tv = {v['case']: v['type'] for v in t.get('variants', [])}
        ov = {v['case']: v['type'] for v in o.get('variants', [])}
        for case in tv:
            if case in ov:
                self.type('%s{%s}' % (path, case), tv[case], ov[case])

    def alternate(self, path, t, o):
        def by_meta(entry, table):
            out = {}
            for m in entry['members']:
                e = table[m['type']]
                key = e.get('json-type', e['meta-type'])
                out[key] = m['type']
            return out
        tb, ob = by_meta(t, self.theirs), by_meta(o, self.ours)
        if set(tb) != set(ob):
            self.diff(path, 'alternate branches %s vs ours %s'
                      % (sorted(tb), sorted(ob)))
        for key in tb:
            if key in ob:
                self.type('%s<%s>' % (path, key), tb[key], ob[key])

    def run(self):
        ours_only = []
        for name, o in self.ours.items():
            if o['meta-type'] not in ('command', 'event'):
                continue
            t = self.theirs.get(name)
            if t is None:
                ours_only.append(name)
                continue
            self.features(name, t, o)
            if t.get('allow-oob', False) != o.get('allow-oob', False):
                self.diff(name, 'allow-oob differs')
            self.type(name + '(arg)', t['arg-type'], o['arg-type'])
            if o['meta-type'] == 'command':
                self.type(name + '(ret)', t['ret-type'], o['ret-type'])
        return ours_only


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('schema')
    ap.add_argument('--qemu-schema', help='JSON file with QEMU\'s '
                    'query-qmp-schema output')
    ap.add_argument('--qsd', action='store_true',
                    help='ask qemu-storage-daemon for the reference')
    ap.add_argument('-D', '--define', action='append', default=[])
    ap.add_argument('--ignore', help='file of expected differences, one '
                    'per line')
    args = ap.parse_args(argv)
    if args.qsd:
        theirs = qsd_schema()
    else:
        with open(args.qemu_schema) as f:
            theirs = json.load(f)
    ours = Introspection(Schema(args.schema, args.define)).entries
    cmp = Comparer(theirs, ours)
    ours_only = cmp.run()
    expected = set()
    if args.ignore:
        with open(args.ignore) as f:
            expected = {line.strip() for line in f
                        if line.strip() and not line.startswith('#')}
    unexpected = [d for d in cmp.diffs if d not in expected]
    for name in ours_only:
        print('not in QEMU: %s' % name)
    for d in cmp.diffs:
        print(('   ' if d in expected else '!! ') + d)
    print('%d differences, %d not expected' % (len(cmp.diffs),
                                               len(unexpected)))
    return 1 if unexpected else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
