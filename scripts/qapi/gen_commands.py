#
# Command marshalling: for each command, the prototype of the qmp_<name>()
# function its implementer writes, a qmp_marshal_<name>() that turns the
# JSON arguments into C values, calls it and turns the result back into
# JSON, and the table that registers them all for qmp_dispatch().
#
# Commands nobody has implemented yet still link: a weak stub stands in
# for each qmp_<name>() (in a separate file, linked after everything
# else), and registration skips commands whose function is the stub.
#
# SPDX-License-Identifier: GPL-2.0-or-later

from .common import Code, c_name, c_string
from .gen_types import special_features_mask


def params(cmd_or_event, with_errp):
    """The C parameter list of a command or event function."""
    out = []
    arg = cmd_or_event.arg_type
    if cmd_or_event.boxed:
        out.append('%s *arg' % arg.c_name())
    elif arg is not None:
        for m in arg.members:
            if m.optional:
                out.append('bool has_%s' % m.c_name())
            t = m.type.c_param_type()
            out.append('%s%s%s' % (t, '' if t.endswith('*') else ' ',
                                   m.c_name()))
    if with_errp:
        out.append('Error **errp')
    return ', '.join(out) if out else 'void'


def ret_ctype(cmd):
    return cmd.ret_type.c_type() if cmd.ret_type else 'void'


def proto(cmd):
    rt = ret_ctype(cmd)
    return '%s%sqmp_%s(%s)' % (rt, '' if rt.endswith('*') else ' ',
                               c_name(cmd.name), params(cmd, True))


def stub_proto(cmd):
    rt = ret_ctype(cmd)
    return '%s%sqmp_%s__stub(%s)' % (rt, '' if rt.endswith('*') else ' ',
                                     c_name(cmd.name), params(cmd, True))


def marshal_proto(cmd):
    return 'void qmp_marshal_%s(json_t *args, json_t **ret, Error **errp)' \
        % c_name(cmd.name)


def user_marshal_proto(cmd):
    """'gen': false commands: the implementer writes the marshaller."""
    return 'void qmp_%s(json_t *args, json_t **ret, Error **errp)' \
        % c_name(cmd.name)


def gen_output_marshal(code, typ):
    code.add('''

static void qmp_marshal_output_%(c)s(%(t)s%(sp)sret_in,
                                     json_t **ret_out, Error **errp)
{
    Visitor *v;

    v = qobject_output_visitor_new(ret_out);
    if (%(visit)s(v, "unused", &ret_in, errp)) {
        visit_complete(v, ret_out);
    }
    visit_free(v);
    v = qapi_dealloc_visitor_new();
    %(visit)s(v, "unused", &ret_in, NULL);
    visit_free(v);
}
''', c=typ.c_name(), t=typ.c_type(), visit=typ.visit_name(),
             sp='' if typ.c_type().endswith('*') else ' ')


def gen_marshal(code, cmd):
    arg = cmd.arg_type
    code.add('''

%(proto)s
{
    Error *err = NULL;
    bool ok = false;
    Visitor *v;
''', proto=marshal_proto(cmd))
    if cmd.ret_type is not None:
        t = cmd.ret_type.c_type()
        code.add('''
    %(t)s%(sp)sretval = 0;
''', t=t, sp='' if t.endswith('*') else ' ')
    if arg is not None:
        code.add('''
    %(c)s arg = {0};
''', c=arg.c_name())
    code.add('''

    v = qobject_input_visitor_new_qmp(args);
    if (!visit_start_struct(v, NULL, NULL, 0, errp)) {
        goto out;
    }
''')
    if arg is not None:
        code.add('''
    if (visit_type_%(c)s_members(v, &arg, errp)) {
        ok = visit_check_struct(v, errp);
    }
''', c=arg.c_name())
    else:
        code.add('''
    ok = visit_check_struct(v, errp);
''')
    code.add('''
    visit_end_struct(v, NULL);
    if (!ok) {
        goto out;
    }

''')
    if cmd.boxed:
        call_args = '&arg, &err'
    else:
        parts = []
        if arg is not None:
            for m in arg.members:
                if m.optional:
                    parts.append('arg.has_%s' % m.c_name())
                parts.append('arg.%s' % m.c_name())
        parts.append('&err')
        call_args = ', '.join(parts)
    lhs = 'retval = ' if cmd.ret_type is not None else ''
    code.add('''
    %(lhs)sqmp_%(name)s(%(args)s);
    if (err) {
        error_propagate(errp, err);
        goto out;
    }
''', lhs=lhs, name=c_name(cmd.name), args=call_args)
    if cmd.ret_type is not None:
        code.add('''

    qmp_marshal_output_%(c)s(retval, ret, errp);
''', c=cmd.ret_type.c_name())
    code.add('''

out:
    visit_free(v);
''')
    if arg is not None:
        code.add('''
    v = qapi_dealloc_visitor_new();
    visit_start_struct(v, NULL, NULL, 0, NULL);
    visit_type_%(c)s_members(v, &arg, NULL);
    visit_end_struct(v, NULL);
    visit_free(v);
''', c=arg.c_name())
    code.add('''
}
''')


def options(cmd):
    opts = []
    if not cmd.success_response:
        opts.append('QCO_NO_SUCCESS_RESP')
    if cmd.allow_oob:
        opts.append('QCO_ALLOW_OOB')
    if cmd.allow_preconfig:
        opts.append('QCO_ALLOW_PRECONFIG')
    if cmd.coroutine:
        opts.append('QCO_COROUTINE')
    return ' | '.join(opts) if opts else 'QCO_NO_OPTIONS'


def generate(schema, c_prefix, header_name, types_header, visit_header,
             banner):
    cmds = schema.commands()
    guard = 'QAPI_' + c_name(header_name, False).upper()

    h = Code()
    h.add(banner)
    h.add('''

#ifndef %(g)s
#define %(g)s

#include <jansson.h>

#include "qapi/qmp-dispatch.h"
#include "%(types)s"

/*
 * Register every implemented command of this schema in @cmds.
 */
void %(p)sqmp_init_marshal(QmpCommandList *cmds);
''', g=guard, types=types_header, p=c_prefix)
    for cmd in cmds:
        h.raw('\n')
        if cmd.gen:
            h.add('''
%(proto)s;
%(marshal)s;
''', proto=proto(cmd), marshal=marshal_proto(cmd))
        else:
            h.add('''
%(proto)s;
''', proto=user_marshal_proto(cmd))
    h.add('''

#endif
''')

    c = Code()
    c.add(banner)
    c.add('''

#include "strata/osdep.h"
#include "qapi/dealloc-visitor.h"
#include "qapi/qobject-input-visitor.h"
#include "qapi/qobject-output-visitor.h"
#include "util/error.h"
#include "%(h)s"
#include "%(visit)s"
''', h=header_name, visit=visit_header)
    done = set()
    for cmd in cmds:
        if cmd.gen and cmd.ret_type is not None and \
           cmd.ret_type.name not in done:
            done.add(cmd.ret_type.name)
            gen_output_marshal(c, cmd.ret_type)
    for cmd in cmds:
        if cmd.gen:
            gen_marshal(c, cmd)

    # The stubs' addresses, to tell implemented commands from the rest
    c.raw('\n')
    for cmd in cmds:
        if cmd.gen:
            c.add('''
%(proto)s;
''', proto=stub_proto(cmd))
        else:
            c.add('''
void qmp_%(c)s__stub(json_t *args, json_t **ret, Error **errp);
''', c=c_name(cmd.name))
    c.add('''

static const QmpCommandDef qmp_command_defs[] = {
''')
    for cmd in cmds:
        fn = 'qmp_marshal_%s' % c_name(cmd.name) if cmd.gen \
            else 'qmp_%s' % c_name(cmd.name)
        c.add('''
    {
        .name = %(name)s,
        .fn = %(fn)s,
        .impl = (void (*)(void))qmp_%(c)s,
        .stub = (void (*)(void))qmp_%(c)s__stub,
        .options = %(opts)s,
        .special_features = %(sf)s,
    },
''', name=c_string(cmd.name), fn=fn, c=c_name(cmd.name),
              opts=options(cmd),
              sf=special_features_mask(cmd.features) or '0')
    c.add('''
};

void %(p)sqmp_init_marshal(QmpCommandList *cmds)
{
    qmp_register_command_defs(cmds, qmp_command_defs,
                              ARRAY_SIZE(qmp_command_defs));
}
''', p=c_prefix)
    return h.text(), c.text()


def generate_stubs(schema, header_name, banner):
    """Weak stand-ins for every command function.  This file must be
    linked from a library that comes after all implementations."""
    c = Code()
    c.add(banner)
    c.add('''

/*
 * Each qmp_<name>() here is a weak alias of qmp_<name>__stub(), which is
 * never called: qmp_init_marshal() does not register a command whose
 * function is its stub.
 */
#include "strata/osdep.h"
#include "%(h)s"
''', h=header_name)
    for cmd in schema.commands():
        if cmd.gen:
            p = stub_proto(cmd)
            alias = proto(cmd)
        else:
            p = 'void qmp_%s__stub(json_t *args, json_t **ret, ' \
                'Error **errp)' % c_name(cmd.name)
            alias = user_marshal_proto(cmd)
        c.add('''

%(p)s;
%(p)s
{
    abort();
}
%(alias)s
    __attribute__((weak, alias("qmp_%(c)s__stub")));
''', p=p, alias=alias, c=c_name(cmd.name))
    return c.text()
