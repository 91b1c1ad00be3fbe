#
# Introspection data for query-qmp-schema: a JSON array of SchemaInfo
# objects describing every command and event and the types reachable
# from them.  As in QEMU, type names are replaced by numbers in order of
# first use ("0", "1", ...; arrays become "[N]"), every integer type shows
# as "int", and types no command or event reaches are left out, so the
# output has the same shape as QEMU's for the same schema.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import json

from .common import Code, c_name, c_string
from .schema import (AlternateType, ArrayType, BuiltinType, EnumType,
                     ObjectType)


class Introspection:
    def __init__(self, schema, unmask=False):
        self.schema = schema
        self.unmask = unmask
        self.names = {}
        self.used = []
        self.entries = []
        for ent in schema.entities():
            if ent.meta == 'command':
                self._command(ent)
            elif ent.meta == 'event':
                self._event(ent)
        # The work list grows while it is walked: each type describes
        # the types it uses, which are then described in turn
        i = 0
        while i < len(self.used):
            self._type(self.used[i])
            i += 1

    def _name(self, name):
        if self.unmask:
            return name
        if name not in self.names:
            self.names[name] = str(len(self.names))
        return self.names[name]

    def _use(self, typ):
        if isinstance(typ, BuiltinType) and typ.json_type() == 'int':
            typ = self.schema.lookup_type('int')
        elif isinstance(typ, ArrayType) and \
                isinstance(typ.element_type, BuiltinType) and \
                typ.element_type.json_type() == 'int':
            typ = self.schema.lookup_type('intList')
        if typ not in self.used:
            self.used.append(typ)
        if isinstance(typ, BuiltinType):
            return typ.name
        if isinstance(typ, ArrayType):
            return '[' + self._use(typ.element_type) + ']'
        return self._name(typ.name)

    @staticmethod
    def _with_features(obj, features):
        if features:
            obj['features'] = list(features)
        return obj

    def _add(self, name, meta, obj, features=()):
        entry = {'name': name, 'meta-type': meta}
        entry.update(obj)
        self.entries.append(self._with_features(entry, features))

    def _command(self, cmd):
        empty = self.schema.lookup_type('q_empty')
        obj = {'arg-type': self._use(cmd.arg_type or empty),
               'ret-type': self._use(cmd.ret_type or empty)}
        if cmd.allow_oob:
            obj['allow-oob'] = True
        self._add(cmd.name, 'command', obj, cmd.features)

    def _event(self, ev):
        empty = self.schema.lookup_type('q_empty')
        self._add(ev.name, 'event', {'arg-type': self._use(ev.arg_type or
                                                           empty)},
                  ev.features)

    def _member(self, m):
        obj = {'name': m.name, 'type': self._use(m.type)}
        if m.optional:
            obj['default'] = None
        return self._with_features(obj, m.features)

    def _type(self, typ):
        if isinstance(typ, BuiltinType):
            self._add(typ.name, 'builtin', {'json-type': typ.json_type()})
        elif isinstance(typ, EnumType):
            members = [self._with_features({'name': m.name}, m.features)
                       for m in typ.members]
            self._add(self._name(typ.name), 'enum',
                      {'members': members,
                       'values': [m.name for m in typ.members]},
                      typ.features)
        elif isinstance(typ, ArrayType):
            elem = self._use(typ.element_type)
            self._add('[' + elem + ']', 'array', {'element-type': elem})
        elif isinstance(typ, ObjectType):
            obj = {'members': [self._member(m) for m in typ.members]}
            if typ.variants:
                obj['tag'] = typ.variants.tag_member.name
                obj['variants'] = [{'case': v.name,
                                    'type': self._use(v.type)}
                                   for v in typ.variants.variants]
            self._add(self._name(typ.name), 'object', obj, typ.features)
        elif isinstance(typ, AlternateType):
            self._add(self._name(typ.name), 'alternate',
                      {'members': [{'type': self._use(v.type)}
                                   for v in typ.variants.variants]},
                      typ.features)


def generate(schema, c_prefix, header_name, banner, unmask=False):
    entries = Introspection(schema, unmask).entries
    var = c_prefix + 'qmp_schema_json'
    guard = 'QAPI_' + c_name(header_name, False).upper()

    h = Code()
    h.add(banner)
    h.add('''

#ifndef %(g)s
#define %(g)s

/*
 * The SchemaInfo array query-qmp-schema returns, as JSON text.
 */
extern const char %(var)s[];

#endif
''', g=guard, var=var)

    c = Code()
    c.add(banner)
    c.add('''

#include "strata/osdep.h"
#include "%(h)s"

const char %(var)s[] =
    "["
''', h=header_name, var=var)
    for i, entry in enumerate(entries):
        text = json.dumps(entry, separators=(', ', ': '))
        c.add('''
    %(s)s
''', s=c_string(text + (', ' if i + 1 < len(entries) else '')))
    c.add('''
    "]";
''')
    return h.text(), c.text()
