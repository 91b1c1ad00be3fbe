#
# Event emitters: qapi_event_send_<name>() builds the event's "data"
# object from its C arguments and hands it to the emit hook, which the
# monitor sets to send it to its clients.
#
# SPDX-License-Identifier: GPL-2.0-or-later

from .common import Code, c_name, c_enum_const, c_string
from .gen_commands import params


def event_enum_name(c_prefix):
    return c_prefix + 'QAPIEvent'


def send_proto(ev):
    return 'void qapi_event_send_%s(%s)' % (c_name(ev.name, False).lower(),
                                           params(ev, False))


def gen_send(code, ev, c_prefix):
    arg = ev.arg_type
    code.add('''

%(proto)s
{
    json_t *data = NULL;
''', proto=send_proto(ev))
    if arg is not None:
        code.add('''
    Visitor *v;
''')
        if not ev.boxed:
            code.add('''
    %(c)s param = {0};
''', c=arg.c_name())
    code.add('''

    if (!%(p)sqapi_event_emit) {
        return;
    }
''', p=c_prefix)
    if arg is not None:
        if ev.boxed:
            target = 'arg'
        else:
            target = '&param'
            for m in arg.members:
                if m.optional:
                    code.add('''
    param.has_%(c)s = has_%(c)s;
''', c=m.c_name())
                cast = ''
                if m.type.c_param_type() != m.type.c_type():
                    cast = '(%s)' % m.type.c_type()
                code.add('''
    param.%(c)s = %(cast)s%(c)s;
''', c=m.c_name(), cast=cast)
        code.add('''

    v = qobject_output_visitor_new(&data);
    visit_start_struct(v, %(name)s, NULL, 0, &error_abort);
    visit_type_%(t)s_members(v, %(target)s, &error_abort);
    visit_check_struct(v, &error_abort);
    visit_end_struct(v, NULL);
    visit_complete(v, &data);
    visit_free(v);
''', name=c_string(ev.name), t=arg.c_name(), target=target)
    code.add('''

    %(p)sqapi_event_emit(%(name)s, data);
    json_decref(data);
}
''', p=c_prefix, name=c_string(ev.name))


def generate(schema, c_prefix, header_name, types_header, visit_header,
             banner):
    events = schema.events()
    enum = event_enum_name(c_prefix)
    guard = 'QAPI_' + c_name(header_name, False).upper()

    h = Code()
    h.add(banner)
    h.add('''

#ifndef %(g)s
#define %(g)s

#include <jansson.h>

#include "qapi/util.h"
#include "%(types)s"

typedef enum %(enum)s {
''', g=guard, types=types_header, enum=enum)
    for ev in events:
        h.add('''
    %(const)s,
''', const=c_enum_const(enum, ev.name))
    h.add('''
    %(max)s,
} %(enum)s;

#define %(enum)s_str(val) qapi_enum_lookup(&%(enum)s_lookup, (val))

extern const QEnumLookup %(enum)s_lookup;

/*
 * Where events go.  The sender passes the event's name and its "data"
 * object (NULL for an event without data); the hook borrows @data and
 * must take a reference to keep it.  While the hook is NULL, events are
 * dropped.  Set it once at start-up, before any event can be sent.
 */
extern void (*%(p)sqapi_event_emit)(const char *name, json_t *data);
''', max=c_enum_const(enum, '_MAX'), enum=enum, p=c_prefix)
    for ev in events:
        h.add('''

%(proto)s;
''', proto=send_proto(ev))
    h.add('''

#endif
''')

    c = Code()
    c.add(banner)
    c.add('''

#include "strata/osdep.h"
#include "qapi/qobject-output-visitor.h"
#include "util/error.h"
#include "%(h)s"
#include "%(visit)s"

void (*%(p)sqapi_event_emit)(const char *name, json_t *data);

const QEnumLookup %(enum)s_lookup = {
''', h=header_name, visit=visit_header, p=c_prefix, enum=enum)
    if events:
        c.add('''
    .array = (const char *const[]) {
''')
        for ev in events:
            c.add('''
        [%(const)s] = %(name)s,
''', const=c_enum_const(enum, ev.name), name=c_string(ev.name))
        c.add('''
    },
''')
    c.add('''
    .size = %(max)s,
};
''', max=c_enum_const(enum, '_MAX'))
    for ev in events:
        gen_send(c, ev, c_prefix)
    return h.text(), c.text()
