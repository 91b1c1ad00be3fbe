#
# Visitor functions for the schema's types: visit_type_T() walks a value
# of type T with any Visitor (JSON input, keyval input, JSON output,
# deallocation), and visit_type_T_members() walks the members of an
# object type inside an already started struct.
#
# SPDX-License-Identifier: GPL-2.0-or-later

from .common import Code, c_name, c_string
from .schema import (AlternateType, ArrayType, EnumType, ObjectType)


def gen_members_decl(code, typ):
    code.add('''

bool visit_type_%(c)s_members(Visitor *v, %(c)s *obj, Error **errp);
''', c=typ.c_name())


def gen_visit_decl(code, typ):
    if isinstance(typ, EnumType):
        code.add('''
bool visit_type_%(c)s(Visitor *v, const char *name, %(c)s *obj,
    Error **errp);
''', c=typ.c_name())
    else:
        code.add('''
bool %(visit)s(Visitor *v, const char *name, %(c)s **obj,
    Error **errp);
''', c=typ.c_name(), visit=typ.visit_name())


def gen_visit_member(code, m, obj='obj'):
    """Visit member @m of the struct pointed to by @obj."""
    name = c_string(m.name)
    if m.optional:
        code.add('''
    if (visit_optional(v, %(name)s, &%(obj)s->has_%(c)s)) {
        if (!%(visit)s(v, %(name)s, &%(obj)s->%(c)s, errp)) {
            return false;
        }
    }
''', name=name, obj=obj, c=m.c_name(), visit=m.type.visit_name())
    else:
        code.add('''
    if (!%(visit)s(v, %(name)s, &%(obj)s->%(c)s, errp)) {
        return false;
    }
''', name=name, obj=obj, c=m.c_name(), visit=m.type.visit_name())


def gen_members_def(code, typ):
    code.add('''

bool visit_type_%(c)s_members(Visitor *v, %(c)s *obj, Error **errp)
{
''', c=typ.c_name())
    if typ.base is not None:
        code.add('''
    if (!visit_type_%(b)s_members(v, (%(b)s *)obj, errp)) {
        return false;
    }
''', b=typ.base.c_name())
    for m in typ.local_members:
        gen_visit_member(code, m)
    if typ.variants:
        tag = typ.variants.tag_member
        code.add('''
    switch (obj->%(tag)s) {
''', tag=tag.c_name())
        for var in typ.variants.variants:
            const = tag.type.const(var.name)
            if var.implicit_empty:
                code.add('''
    case %(const)s:
        break;
''', const=const)
            else:
                code.add('''
    case %(const)s:
        return visit_type_%(t)s_members(v, &obj->u.%(c)s, errp);
''', const=const, t=var.type.c_name(), c=var.c_name())
        code.add('''
    default:
        abort();
    }
''')
    code.add('''
    return true;
}
''')


def gen_object_def(code, typ):
    code.add('''

bool visit_type_%(c)s(Visitor *v, const char *name, %(c)s **obj,
    Error **errp)
{
    bool ok = false;

    if (!visit_start_struct(v, name, (void **)obj, sizeof(%(c)s), errp)) {
        return false;
    }
    if (!*obj) {
        /* Freeing a partly built value */
        assert(visit_is_dealloc(v));
        ok = true;
        goto out_obj;
    }
    if (!visit_type_%(c)s_members(v, *obj, errp)) {
        goto out_obj;
    }
    ok = visit_check_struct(v, errp);
out_obj:
    visit_end_struct(v, (void **)obj);
    if (!ok && visit_is_input(v)) {
        qapi_free_%(c)s(*obj);
        *obj = NULL;
    }
    return ok;
}
''', c=typ.c_name())


def gen_list_def(code, typ):
    elem = typ.element_type
    code.add('''

bool %(visit)s(Visitor *v, const char *name, %(c)s **obj,
    Error **errp)
{
    bool ok = false;
    %(c)s *tail;
    size_t size = sizeof(**obj);

    if (!visit_start_list(v, name, (GenericList **)obj, size, errp)) {
        return false;
    }

    for (tail = *obj; tail;
         tail = (%(c)s *)visit_next_list(v, (GenericList *)tail, size)) {
        if (!%(elem_visit)s(v, NULL, &tail->value, errp)) {
            goto out_obj;
        }
    }

    ok = visit_check_list(v, errp);
out_obj:
    visit_end_list(v, (void **)obj);
    if (!ok && visit_is_input(v)) {
        qapi_free_%(c)s(*obj);
        *obj = NULL;
    }
    return ok;
}
''', c=typ.c_name(), visit=typ.visit_name(), elem_visit=elem.visit_name())


def gen_enum_def(code, typ):
    code.add('''

bool visit_type_%(c)s(Visitor *v, const char *name, %(c)s *obj,
    Error **errp)
{
    int value = *obj;
    bool ok = visit_type_enum(v, name, &value, &%(c)s_lookup, errp);

    *obj = value;
    return ok;
}
''', c=typ.c_name())


def gen_alternate_def(code, typ):
    code.add('''

bool visit_type_%(c)s(Visitor *v, const char *name, %(c)s **obj,
    Error **errp)
{
    bool ok = false;

    if (!visit_start_alternate(v, name, (GenericAlternate **)obj,
                               sizeof(**obj), errp)) {
        return false;
    }
    if (!*obj) {
        /* Freeing a partly built value */
        assert(visit_is_dealloc(v));
        ok = true;
        goto out_obj;
    }
    switch ((*obj)->type) {
''', c=typ.c_name())
    for var in typ.variants.variants:
        qtype = var.type.alternate_qtype()
        if isinstance(var.type, ObjectType):
            code.add('''
    case %(qtype)s:
        if (!visit_start_struct(v, name, NULL, 0, errp)) {
            break;
        }
        if (visit_type_%(t)s_members(v, &(*obj)->u.%(c)s, errp)) {
            ok = visit_check_struct(v, errp);
        }
        visit_end_struct(v, NULL);
        break;
''', qtype=qtype, t=var.type.c_name(), c=var.c_name())
        else:
            code.add('''
    case %(qtype)s:
        ok = %(visit)s(v, name, &(*obj)->u.%(c)s, errp);
        break;
''', qtype=qtype, visit=var.type.visit_name(), c=var.c_name())
    code.add('''
    case QTYPE_NONE:
        abort();
    default:
        assert(visit_is_input(v));
        error_setg(errp, "Invalid parameter type for '%%s', expected: %%s",
                   name ? name : "null", %(str)s);
        /* The branch is unknown: free the shell only */
        g_free(*obj);
        *obj = NULL;
    }
out_obj:
    visit_end_alternate(v, (void **)obj);
    if (!ok && visit_is_input(v)) {
        qapi_free_%(c)s(*obj);
        *obj = NULL;
    }
    return ok;
}
''', c=typ.c_name(), str=c_string(typ.name))


def generate(schema, builtins, header_name, types_header, banner):
    if builtins:
        types = [t for t in schema.types() if t in schema.builtin_types()]
    else:
        types = [t for t in schema.types()
                 if t not in schema.builtin_types() and t.name != 'q_empty']
    guard = 'QAPI_' + c_name(header_name, False).upper()

    h = Code()
    h.add(banner)
    h.add('''

#ifndef %(g)s
#define %(g)s

#include "qapi/visitor.h"
''', g=guard)
    if builtins:
        h.add('''
#include "qapi/qapi-builtin-types.h"
''')
    else:
        h.add('''
#include "qapi/qapi-builtin-visit.h"
#include "%(types)s"
''', types=types_header)
    h.raw('\n')
    for t in types:
        if isinstance(t, ObjectType):
            gen_members_decl(h, t)
            if not t.is_implicit():
                gen_visit_decl(h, t)
        elif isinstance(t, (EnumType, AlternateType, ArrayType)):
            h.raw('\n')
            gen_visit_decl(h, t)
    h.add('''

#endif
''')

    c = Code()
    c.add(banner)
    c.add('''

#include "strata/osdep.h"
#include "util/error.h"
#include "%(h)s"
''', h=header_name)
    for t in types:
        if isinstance(t, ObjectType):
            gen_members_def(c, t)
            if not t.is_implicit():
                gen_object_def(c, t)
        elif isinstance(t, EnumType):
            gen_enum_def(c, t)
        elif isinstance(t, AlternateType):
            gen_alternate_def(c, t)
        elif isinstance(t, ArrayType):
            gen_list_def(c, t)
    return h.text(), c.text()
