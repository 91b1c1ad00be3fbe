#!/usr/bin/env python3
#
# Tests of scripts/qapi-gen.py: the schema language's syntax and rules,
# each error message with its file:line, condition handling, C naming,
# and (when Debian's qemu-storage-daemon is installed) that Strata's
# schema has the shape of QEMU 7.2's.
#
#   test-qapi-gen.py SOURCE_ROOT [unittest options]
#
# SPDX-License-Identifier: GPL-2.0-or-later

import io
import os
import shutil
import sys
import tempfile
import unittest

ROOT = os.path.abspath(sys.argv.pop(1) if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'scripts'))

from qapi import compare_qemu  # noqa: E402
from qapi.common import c_enum_const, c_name, camel_to_upper  # noqa: E402
from qapi.error import QAPIError  # noqa: E402
from qapi.gen_introspect import Introspection  # noqa: E402
from qapi.schema import Schema  # noqa: E402

STRATA_DEFINES = ['CONFIG_LINUX', 'CONFIG_POSIX', 'CONFIG_ZSTD',
                  'CONFIG_IO_URING']


class SchemaTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='qapi-test-')

    def tearDown(self):
        shutil.rmtree(self.dir)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, 'w') as f:
            f.write(text)
        return path

    def schema(self, text, defines=()):
        return Schema(self.write('s.json', text), defines)

    def error(self, text, expected, defines=()):
        """The schema must be refused with @expected (after the file
        name), e.g. ':3: name 'foo' must use CamelCase'."""
        with self.assertRaises(QAPIError) as cm:
            self.schema(text, defines)
        msg = str(cm.exception)
        prefix = os.path.join(self.dir, 's.json')
        self.assertTrue(msg.startswith(prefix), msg)
        self.assertEqual(msg[len(prefix):], expected)


class SyntaxErrors(SchemaTest):
    def test_missing_comma(self):
        self.error("{ 'enum': 'Foo' 'data': [] }",
                   ":1:17: expected ',' or '}'")

    def test_top_level(self):
        self.error("{ 'enum': 'Foo', 'data': [] }\n[]",
                   ":2:1: expected '{'")

    def test_unterminated_string(self):
        self.error("{ 'enum': 'Foo }", ':1:17: missing terminating "\'"')

    def test_funny_character(self):
        self.error("{ 'enum': 'F\too', 'data': [] }",
                   ':1:13: funny character in string')

    def test_escape(self):
        self.error("{ 'enum': 'F\\no', 'data': [] }",
                   ':1:14: unknown escape \\n')

    def test_stray(self):
        self.error("{ 'enum': null }", ":1:11: stray 'null'")
        self.error("{ 'enum': 5 }", ":1:11: stray '5'")

    def test_duplicate_key(self):
        self.error("{ 'enum': 'Foo', 'enum': 'Bar' }",
                   ":1:18: duplicate key 'enum'")

    def test_doc_not_followed(self):
        self.error("##\n# @Foo:\n##\n\n##\n# free text\n##\n",
                   ":1: documentation for 'Foo' is not followed by the "
                   "definition")

    def test_doc_other_name(self):
        self.error("##\n# @Foo:\n##\n{ 'enum': 'Bar', 'data': [] }",
                   ":4: enum 'Bar': definition of 'Bar' follows "
                   "documentation for 'Foo'")

    def test_doc_junk(self):
        self.error("## x\n", ":1:1: junk after '##' at start of "
                   "documentation comment")

    def test_doc_unterminated(self):
        self.error("##\n# @Foo:\n{ 'enum': 'Foo', 'data': [] }",
                   ":3:1: documentation comment must end with '##'")

    def test_doc_member(self):
        self.error("##\n# @Foo:\n# @x: nothing\n##\n"
                   "{ 'struct': 'Foo', 'data': { 'y': 'int' } }",
                   ":1: struct 'Foo': documented member 'x' does not exist")

    def test_doc_required(self):
        self.error("{ 'pragma': { 'doc-required': true } }\n"
                   "{ 'enum': 'Foo', 'data': [] }",
                   ":2: enum 'Foo': documentation comment required")

    def test_comments(self):
        s = self.schema("# comment { not: parsed\n"
                        "{ 'enum': 'Foo', # here too\n"
                        "  'data': [ 'a' ] } # and here\n")
        self.assertEqual(s.lookup('Foo').member_names(), ['a'])


class Includes(SchemaTest):
    def test_include(self):
        self.write('sub.json', "{ 'enum': 'Sub', 'data': [ 'x' ] }\n")
        s = self.schema("{ 'include': 'sub.json' }\n"
                        "{ 'include': 'sub.json' }\n"
                        "{ 'struct': 'Foo', 'data': { 's': 'Sub' } }")
        self.assertIsNotNone(s.lookup('Sub'))

    def test_missing(self):
        with self.assertRaises(QAPIError) as cm:
            self.schema("{ 'include': 'nope.json' }")
        self.assertIn(":1: can't read include file", str(cm.exception))

    def test_loop(self):
        self.write('a.json', "{ 'include': 'b.json' }\n")
        self.write('b.json', "\n{ 'include': 'a.json' }\n")
        with self.assertRaises(QAPIError) as cm:
            Schema(os.path.join(self.dir, 'a.json'))
        lines = str(cm.exception).split('\n')
        self.assertTrue(lines[0].startswith('In file included from'))
        self.assertTrue(lines[1].endswith('b.json:2: inclusion loop for '
                                          'a.json'), lines)

    def test_error_in_include(self):
        self.write('sub.json', "\n\n{ 'enum': 'sub', 'data': [] }\n")
        with self.assertRaises(QAPIError) as cm:
            self.schema("{ 'include': 'sub.json' }")
        self.assertIn("sub.json:3: enum 'sub': name 'sub' must use "
                      "CamelCase", str(cm.exception))


class Rules(SchemaTest):
    def test_metatype(self):
        self.error("{ 'data': {} }", ':1: expression is missing metatype')
        self.error("{ 'struct': 'Ab', 'enum': 'B', 'data': {} }",
                   ":1: expression has several metatypes: 'enum', 'struct'")

    def test_keys(self):
        self.error("{ 'struct': 'Foo' }",
                   ":1: struct 'Foo' misses key 'data'")
        self.error("{ 'struct': 'Foo', 'data': {}, 'bar': 'x' }",
                   ":1: struct 'Foo' has unknown key 'bar' (valid: 'base', "
                   "'data', 'features', 'if', 'struct')")

    def test_names(self):
        self.error("{ 'struct': 'foo', 'data': {} }",
                   ":1: struct 'foo': name 'foo' must use CamelCase")
        self.error("{ 'struct': 'FooList', 'data': {} }",
                   ":1: struct 'FooList': name 'FooList' must not end in "
                   "'List' (reserved for array types)")
        self.error("{ 'command': 'do_it' }",
                   ":1: command 'do_it': name 'do_it' must use '-', not '_'")
        self.error("{ 'event': 'Happened' }",
                   ":1: event 'Happened': name 'Happened' must be upper "
                   "case with '_'")
        self.error("{ 'struct': 'Foo', 'data': { 'a_b': 'int' } }",
                   ":1: struct 'Foo': member 'a_b' must use '-', not '_'")
        self.error("{ 'struct': 'Foo', 'data': { 'aB': 'int' } }",
                   ":1: struct 'Foo': member 'aB' must not use upper case")
        self.error("{ 'struct': 'Foo', 'data': { 'a b': 'int' } }",
                   ":1: struct 'Foo': member 'a b' is not a valid name")
        self.error("{ 'struct': 'Foo', 'data': { 'has-x': 'int' } }",
                   ":1: struct 'Foo': member 'has-x' uses a reserved name")
        self.error("{ 'struct': 'Foo', 'data': { 'u': 'int' } }",
                   ":1: struct 'Foo': member 'u' uses a reserved name")
        self.error("{ 'enum': 'Foo', 'data': [ 'q_x' ] }",
                   ":1: enum 'Foo': value 'q_x' uses a reserved name")
        # Exceptions by pragma, and downstream names
        self.schema("{ 'pragma': { 'member-name-exceptions': [ 'Foo' ],"
                    "  'command-name-exceptions': [ 'do_it' ] } }\n"
                    "{ 'struct': 'Foo', 'data': { 'a_B': 'int' } }\n"
                    "{ 'command': 'do_it' }\n"
                    "{ 'command': '__org.example_do-it' }\n"
                    "{ 'enum': 'Digits', 'data': [ '1', '2a' ] }")

    def test_duplicates(self):
        self.error("{ 'enum': 'Foo', 'data': [] }\n"
                   "{ 'struct': 'Foo', 'data': {} }",
                   ":2: struct 'Foo': 'Foo' is already defined at %s:1"
                   % os.path.join(self.dir, 's.json'))
        self.error("{ 'enum': 'Foo', 'data': [ 'a-b', 'a_b' ] }",
                   ":1: enum 'Foo': value 'a_b' must use '-', not '_'")
        self.error("{ 'pragma': { 'member-name-exceptions': [ 'Foo' ] } }\n"
                   "{ 'enum': 'Foo', 'data': [ 'a-b', 'a_b' ] }",
                   ":2: enum 'Foo': value 'a_b' collides with value 'a-b'")
        self.error("{ 'struct': 'Base', 'data': { 'x': 'int' } }\n"
                   "{ 'struct': 'Foo', 'base': 'Base', "
                   "'data': { 'x': 'str' } }",
                   ":2: struct 'Foo': member 'x' of type 'Foo' collides "
                   "with member 'x' of type 'Base'")
        self.error("{ 'command': 'a-b' }\n{ 'command': 'a-b' }",
                   ":2: command 'a-b': 'a-b' is already defined at %s:1"
                   % os.path.join(self.dir, 's.json'))

    def test_types(self):
        self.error("{ 'struct': 'Foo', 'data': { 'x': 'Bar' } }",
                   ":1: struct 'Foo': member 'x' of type 'Foo' uses unknown "
                   "type 'Bar'")
        self.error("{ 'struct': 'Foo', 'data': { 'x': [ 'int', 'str' ] } }",
                   ":1: struct 'Foo': member 'x': an array type must be "
                   "written as ['TYPE'], with one type name")
        self.error("{ 'command': 'c' }\n"
                   "{ 'struct': 'Foo', 'data': { 'x': 'c' } }",
                   ":2: struct 'Foo': member 'x' of type 'Foo' uses command "
                   "'c', which is not a type")
        self.error("{ 'struct': 'Foo', 'base': 'Foo', 'data': {} }",
                   ":1: struct 'Foo': object 'Foo' contains itself")
        self.error("{ 'enum': 'En', 'data': [] }\n"
                   "{ 'struct': 'Foo', 'base': 'En', 'data': {} }",
                   ":2: 'base' of struct 'Foo' must be a struct "
                   "type, not enum 'En'")

    def test_union(self):
        base = ("{ 'enum': 'En', 'data': [ 'a', 'b' ] }\n"
                "{ 'struct': 'Ab', 'data': { 'x': 'int' } }\n")
        self.error(base + "{ 'union': 'Un', 'base': { 'k': 'En' },"
                   " 'discriminator': 'kind', 'data': { 'a': 'Ab' } }",
                   ":3: discriminator 'kind' is not a member of the base of "
                   "union 'Un'")
        self.error(base + "{ 'union': 'Un', 'base': { '*k': 'En' },"
                   " 'discriminator': 'k', 'data': { 'a': 'Ab' } }",
                   ":3: union 'Un': discriminator member 'k' must not be "
                   "optional")
        self.error(base + "{ 'union': 'Un', 'base': { 'k': 'str' },"
                   " 'discriminator': 'k', 'data': { 'a': 'Ab' } }",
                   ":3: union 'Un': discriminator member 'k' must be of an "
                   "enum type")
        self.error(base + "{ 'union': 'Un', 'base': { 'k': 'En' },"
                   " 'discriminator': 'k', 'data': { 'c': 'Ab' } }",
                   ":3: branch 'c' of union 'Un' is not a value "
                   "of enum 'En'")
        self.error(base + "{ 'union': 'Un', 'base': { 'k': 'En' },"
                   " 'discriminator': 'k', 'data': { 'a': 'int' } }",
                   ":3: branch 'a' of union 'Un' must be a struct "
                   "type, not built-in type 'int'")
        self.error(base + "{ 'union': 'Un', 'base': { 'k': 'En', 'x': 'str' },"
                   " 'discriminator': 'k', 'data': { 'a': 'Ab' } }",
                   ":3: member 'x' of type 'Ab' (branch 'a' of union 'Un') "
                   "collides with base member 'x'")
        self.error(base + "{ 'union': 'Un', 'discriminator': 'k',"
                   " 'data': { 'a': 'Ab' } }",
                   ":3: union 'Un' with a 'discriminator' needs a 'base'")
        self.error(base + "{ 'union': 'Un', 'base': { 'k': 'En' },"
                   " 'discriminator': 'k', 'data': {} }",
                   ":3: union 'Un' has no branches")

    def test_alternate(self):
        self.error("{ 'alternate': 'Ab', 'data': { 'i': 'int', 's': 'str' } }",
                   ":1: branch 's' of alternate 'Ab' can't be "
                   "distinguished from branch 'i'")
        self.error("{ 'alternate': 'Ab', 'data': { 'i': 'int', 'n': 'number'"
                   " } }", ":1: branch 'n' of alternate 'Ab' "
                   "can't be distinguished from branch 'i'")
        self.error("{ 'alternate': 'Ab', 'data': { 'x': 'any' } }",
                   ":1: branch 'x' of alternate 'Ab' cannot "
                   "use built-in type 'any'")
        self.error("{ 'enum': 'OnOff', 'data': [ 'on', 'off' ] }\n"
                   "{ 'alternate': 'Ab', 'data': { 'b': 'bool', "
                   "'e': 'OnOff' } }",
                   ":2: branch 'e' of alternate 'Ab' can't be "
                   "distinguished from branch 'b'")
        self.error("{ 'alternate': 'Ab', 'data': { 'x': ['int'] } }",
                   ":1: alternate 'Ab': branch 'x' should be a type name")
        self.schema("{ 'enum': 'Words', 'data': [ 'x', 'y' ] }\n"
                    "{ 'struct': 'St', 'data': {} }\n"
                    "{ 'alternate': 'Ab', 'data': { 'b': 'bool', "
                    "'e': 'Words', 'o': 'St', 'n': 'null', 'i': 'int' } }")

    def test_commands(self):
        self.error("{ 'command': 'c', 'returns': 'int' }",
                   ":1: command 'c' must return a struct type or an array "
                   "of one, not built-in type 'int'")
        self.schema("{ 'pragma': { 'command-returns-exceptions': [ 'c' ] } }"
                    "\n{ 'command': 'c', 'returns': 'int' }")
        self.error("{ 'enum': 'En', 'data': [ 'a' ] }\n"
                   "{ 'struct': 'Ab', 'data': {} }\n"
                   "{ 'union': 'Un', 'base': { 'k': 'En' },"
                   " 'discriminator': 'k', 'data': { 'a': 'Ab' } }\n"
                   "{ 'command': 'c', 'data': 'Un' }",
                   ":4: 'data' of command 'c' can be a union "
                   "type only with 'boxed': true")
        self.error("{ 'command': 'c', 'data': { 'a': 'int' }, 'boxed': true }",
                   ":1: 'data' of command 'c' must name a type when 'boxed' "
                   "is true")
        self.error("{ 'command': 'c', 'allow-oob': true, 'coroutine': true }",
                   ":1: command 'c' cannot have both 'allow-oob' and "
                   "'coroutine'")
        self.error("{ 'command': 'c', 'gen': 'no' }",
                   ":1: 'gen' of command 'c' must be true or false")
        self.error("{ 'event': 'EV', 'data': 'str' }",
                   ":1: 'data' of event 'EV' must be a struct or "
                   "union type, not built-in type 'str'")

    def test_conditions(self):
        self.error("{ 'struct': 'St', 'data': {}, 'if': { 'all': [] } }",
                   ":1: 'if' condition 'all' of struct 'St' "
                   "needs a non-empty list")
        self.error("{ 'struct': 'St', 'data': {}, 'if': { 'xor': 'Ab' } }",
                   ":1: 'if' condition of struct 'St' has unknown "
                   "operator 'xor'")
        self.error("{ 'struct': 'St', 'data': {}, 'if': 'A B' }",
                   ":1: 'if' condition 'A B' of struct 'St' is "
                   "not a valid identifier")
        text = ("{ 'enum': 'En', 'data': [ 'a', { 'name': 'b', 'if': 'B' } ] }\n"
                "{ 'struct': 'St', 'data': { 'x': 'int',"
                "  'y': { 'type': 'int', 'if': { 'not': 'Ab' } },"
                "  'z': { 'type': 'int', 'if': { 'all': [ 'Ab', 'B' ] } } } }\n"
                "{ 'command': 'c', 'if': { 'any': [ 'Ab', 'B' ] } }\n"
                "{ 'struct': 'Gone', 'data': { 'x': 'Undefined' },"
                "  'if': 'C' }")
        s = self.schema(text)
        self.assertEqual(s.lookup('En').member_names(), ['a'])
        self.assertEqual([m.name for m in s.lookup('St').members], ['x', 'y'])
        self.assertIsNone(s.lookup('c'))
        self.assertIsNone(s.lookup('Gone'))
        s = self.schema(text, ['Ab', 'B'])
        self.assertEqual(s.lookup('En').member_names(), ['a', 'b'])
        self.assertEqual([m.name for m in s.lookup('St').members], ['x', 'z'])
        self.assertIsNotNone(s.lookup('c'))
        # A reference to a type left out by its condition
        self.error("{ 'struct': 'Ab', 'data': {}, 'if': 'X' }\n"
                   "{ 'command': 'c', 'data': 'Ab' }",
                   ":2: command 'c' uses unknown type 'Ab'")

    def test_features(self):
        self.error("{ 'struct': 'St', 'data': {}, 'features': 'x' }",
                   ":1: 'features' of struct 'St' must be an array")
        self.error("{ 'struct': 'St', 'data': {}, 'features': [ 'a', 'a' ] }",
                   ":1: struct 'St': duplicate feature 'a'")
        self.error("{ 'struct': 'St', 'data': {}, 'features': [ 'Ab' ] }",
                   ":1: struct 'St': feature 'Ab' must not use upper case")
        s = self.schema("{ 'struct': 'St', 'data': { 'm': { 'type': 'int',"
                        " 'features': [ 'deprecated' ] } },"
                        " 'features': [ 'unstable', "
                        "{ 'name': 'x', 'if': 'NO' } ] }")
        self.assertEqual(s.lookup('St').features, ['unstable'])
        self.assertEqual(s.lookup('St').members[0].features, ['deprecated'])

    def test_simple_union(self):
        s = self.schema("{ 'struct': 'Ab', 'data': { 'x': 'int' } }\n"
                        "{ 'union': 'Un', 'data': { 'a': 'Ab', 'n': 'int' } }")
        self.assertEqual(s.lookup('UnKind').member_names(), ['a', 'n'])
        u = s.lookup('Un')
        self.assertEqual(u.variants.tag_member.name, 'type')
        self.assertEqual(u.variants.variants[1].type.members[0].name, 'data')


class Naming(unittest.TestCase):
    def test_c_name(self):
        self.assertEqual(c_name('read-only'), 'read_only')
        self.assertEqual(c_name('errno'), 'q_errno')
        self.assertEqual(c_name('unix'), 'q_unix')
        self.assertEqual(c_name('default'), 'q_default')
        self.assertEqual(c_name('3des'), 'q_3des')
        self.assertEqual(c_name('int', False), 'int')
        self.assertEqual(c_name('__org.example_x'), '__org_example_x')

    def test_camel_to_upper(self):
        for name, upper in [('BlockdevDriver', 'BLOCKDEV_DRIVER'),
                            ('QCryptoBlockFormat', 'Q_CRYPTO_BLOCK_FORMAT'),
                            ('Qcow2OverlapCheckMode',
                             'QCOW2_OVERLAP_CHECK_MODE'),
                            ('BlockdevQcow2Version', 'BLOCKDEV_QCOW2_VERSION'),
                            ('NFSTransport', 'NFS_TRANSPORT'),
                            ('JSONType', 'JSON_TYPE'),
                            ('QMPCapability', 'QMP_CAPABILITY'),
                            ('XDbgBlockGraphNodeType',
                             'X_DBG_BLOCK_GRAPH_NODE_TYPE'),
                            ('QAPIEvent', 'QAPI_EVENT'),
                            ('BlockDeviceIoStatus',
                             'BLOCK_DEVICE_IO_STATUS')]:
            self.assertEqual(camel_to_upper(name), upper)
        self.assertEqual(c_enum_const('BlockdevDriver', 'null-co'),
                         'BLOCKDEV_DRIVER_NULL_CO')
        self.assertEqual(c_enum_const('BlkdebugEvent', 'l1_update', 'BLKDBG'),
                         'BLKDBG_L1_UPDATE')


class StrataSchema(unittest.TestCase):
    schema_file = os.path.join(ROOT, 'qapi', 'qapi-schema.json')

    def test_generate(self):
        import importlib.util
        spec = importlib.util.spec_from_file_location(
            'qapi_gen', os.path.join(ROOT, 'scripts', 'qapi-gen.py'))
        gen = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(gen)
        with tempfile.TemporaryDirectory() as a, \
                tempfile.TemporaryDirectory() as b:
            gen.generate(self.schema_file, a, '', True, STRATA_DEFINES)
            gen.generate(self.schema_file, b, '', True, STRATA_DEFINES)
            names = sorted(os.listdir(a))
            self.assertEqual(names, sorted(gen.output_files('', True)))
            for name in names:
                with open(os.path.join(a, name)) as fa, \
                        open(os.path.join(b, name)) as fb:
                    self.assertEqual(fa.read(), fb.read(), name)

    @unittest.skipUnless(shutil.which('qemu-storage-daemon'),
                         'needs qemu-storage-daemon (Debian qemu-system-x86 '
                         'or qemu-utils)')
    def test_same_shape_as_qemu(self):
        """Every difference from QEMU 7.2's interface is listed in
        qapi/qemu-differences.txt."""
        out = io.StringIO()
        saved = sys.stdout
        sys.stdout = out
        try:
            status = compare_qemu.main(
                ['--qsd', '--ignore',
                 os.path.join(ROOT, 'qapi', 'qemu-differences.txt')] +
                sum([['-D', d] for d in STRATA_DEFINES], []) +
                [self.schema_file])
        finally:
            sys.stdout = saved
        self.assertEqual(status, 0, out.getvalue())

    def test_introspection_names(self):
        entries = Introspection(Schema(self.schema_file,
                                       STRATA_DEFINES)).entries
        names = [e['name'] for e in entries]
        self.assertEqual(len(names), len(set(names)))
        self.assertIn('query-qmp-schema', names)
        # Masked type names are numbers from 0 on
        numbers = sorted(int(n) for n in names if n.isdigit())
        self.assertEqual(numbers, list(range(len(numbers))))


if __name__ == '__main__':
    unittest.main(verbosity=2)
