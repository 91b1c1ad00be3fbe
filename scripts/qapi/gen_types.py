#
# C types for the schema: enums with their string tables, structs (with a
# has_ flag before each optional member), unions with the discriminator
# and a 'u' union of branches, alternates with a QType 'type', lists, and
# the qapi_free_ functions.
#
# SPDX-License-Identifier: GPL-2.0-or-later

from .common import Code, c_name, c_string
from .schema import (AlternateType, ArrayType, BuiltinType, EnumType,
                     ObjectType)


def special_features_mask(features):
    bits = []
    if 'deprecated' in features:
        bits.append('1u << QAPI_DEPRECATED')
    if 'unstable' in features:
        bits.append('1u << QAPI_UNSTABLE')
    return ' | '.join(bits)


def gen_enum_decl(code, typ):
    code.add('''

typedef enum %(c)s {
''', c=typ.c_name())
    for m in typ.members:
        code.add('''
    %(const)s,
''', const=typ.const(m.name))
    code.add('''
    %(max)s,
} %(c)s;

#define %(c)s_str(val) qapi_enum_lookup(&%(c)s_lookup, (val))

extern const QEnumLookup %(c)s_lookup;
''', c=typ.c_name(), max=typ.const('_MAX'))


def gen_enum_lookup(code, typ):
    c = typ.c_name()
    code.add('''

const QEnumLookup %(c)s_lookup = {
''', c=c)
    if typ.members:
        code.add('''
    .array = (const char *const[]) {
''')
        for m in typ.members:
            code.add('''
        [%(const)s] = %(str)s,
''', const=typ.const(m.name), str=c_string(m.name))
        code.add('''
    },
''')
    special = [(m, special_features_mask(m.features)) for m in typ.members]
    special = [(m, mask) for m, mask in special if mask]
    if special:
        code.add('''
    .special_features = (const unsigned char[%(max)s]) {
''', max=typ.const('_MAX'))
        for m, mask in special:
            code.add('''
        [%(const)s] = %(mask)s,
''', const=typ.const(m.name), mask=mask)
        code.add('''
    },
''')
    code.add('''
    .size = %(max)s,
};
''', max=typ.const('_MAX'))


def gen_member_decls(code, members):
    for m in members:
        if m.optional:
            code.add('''
    bool has_%(c)s;
''', c=m.c_name())
        code.add('''
    %(t)s%(sp)s%(c)s;
''', t=m.type.c_type(), c=m.c_name(),
                 sp='' if m.type.c_type().endswith('*') else ' ')


def gen_object_struct(code, typ):
    code.add('''

struct %(c)s {
''', c=typ.c_name())
    if typ.base is not None:
        if not typ.base.is_implicit():
            code.add('''
    /* Members inherited from %(b)s: */
''', b=typ.base.c_name())
        gen_member_decls(code, typ.base.members)
        if not typ.base.is_implicit():
            code.add('''
    /* Own members: */
''')
    gen_member_decls(code, typ.local_members)
    if typ.variants:
        gen_variant_union(code, typ.variants.variants,
                          '@' + typ.variants.tag_name)
    elif not typ.members:
        # C has no empty structs
        code.add('''
    char qapi_dummy_for_empty_struct;
''')
    code.add('''
};
''')
    if typ.base is not None and not typ.base.is_implicit():
        code.add('''

static inline %(b)s *qapi_%(c)s_base(const %(c)s *obj)
{
    return (%(b)s *)obj;
}
''', b=typ.base.c_name(), c=typ.c_name())


def gen_variant_union(code, variants, tag):
    code.add('''
    union { /* the branch selected by %(tag)s */
''', tag=tag)
    for var in variants:
        if var.implicit_empty:
            continue
        code.add('''
        %(t)s%(sp)s%(c)s;
''', t=var.type.c_unboxed_type(), c=var.c_name(),
                 sp='' if var.type.c_unboxed_type().endswith('*') else ' ')
    code.add('''
    } u;
''')


def gen_alternate_struct(code, typ):
    code.add('''

struct %(c)s {
    QType type;
''', c=typ.c_name())
    gen_variant_union(code, typ.variants.variants, '@type')
    code.add('''
};
''')


def gen_list_struct(code, typ):
    elem = typ.element_type
    code.add('''

struct %(c)s {
    %(c)s *next;
    %(t)s%(sp)svalue;
};
''', c=typ.c_name(), t=elem.c_type(),
             sp='' if elem.c_type().endswith('*') else ' ')


def needs_free(typ):
    if isinstance(typ, ArrayType):
        return True
    if isinstance(typ, (ObjectType, AlternateType)):
        return not typ.is_implicit()
    return False


def gen_free_decl(code, typ):
    code.add('''

void qapi_free_%(c)s(%(c)s *obj);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(%(c)s, qapi_free_%(c)s)
''', c=typ.c_name())


def gen_free_def(code, typ):
    code.add('''

void qapi_free_%(c)s(%(c)s *obj)
{
    Visitor *v;

    if (!obj) {
        return;
    }

    v = qapi_dealloc_visitor_new();
    %(visit)s(v, NULL, &obj, NULL);
    visit_free(v);
}
''', c=typ.c_name(), visit=typ.visit_name())


def struct_order(types):
    """Objects and alternates in an order where every type embedded by
    value (bases, union branches, alternate object branches) comes first."""
    done = set()
    out = []

    def visit(t):
        if t.name in done or not isinstance(t, (ObjectType, AlternateType)):
            return
        done.add(t.name)
        if isinstance(t, ObjectType):
            if t.base is not None:
                visit(t.base)
            if t.variants:
                for var in t.variants.variants:
                    if not var.implicit_empty:
                        visit(var.type)
        else:
            for var in t.variants.variants:
                visit(var.type)
        out.append(t)

    for t in types:
        visit(t)
    return out


def generate(schema, builtins, prefix, header_name, source_name, banner):
    """Return (header text, source text)."""
    if builtins:
        types = [t for t in schema.types() if t in schema.builtin_types()]
    else:
        types = [t for t in schema.types()
                 if t not in schema.builtin_types() and t.name != 'q_empty']
    objects = [t for t in types if isinstance(t, (ObjectType, AlternateType))]
    arrays = [t for t in types if isinstance(t, ArrayType)]
    enums = [t for t in types if isinstance(t, EnumType)]
    guard = 'QAPI_' + c_name(header_name, False).upper()

    h = Code()
    h.add(banner)
    h.add('''

#ifndef %(g)s
#define %(g)s

''', g=guard)
    if builtins:
        h.add('''
#include <jansson.h>

#include "qapi/util.h"
''')
    else:
        h.add('''
#include "qapi/qapi-builtin-types.h"
''')
    if objects or arrays:
        h.raw('\n')
    for t in objects + arrays:
        h.add('''
typedef struct %(c)s %(c)s;
''', c=t.c_name())
    for t in enums:
        gen_enum_decl(h, t)
    for t in struct_order(objects):
        if isinstance(t, ObjectType):
            gen_object_struct(h, t)
        else:
            gen_alternate_struct(h, t)
    for t in arrays:
        gen_list_struct(h, t)
    for t in objects + arrays:
        if needs_free(t):
            gen_free_decl(h, t)
    h.add('''

#endif
''')

    c = Code()
    c.add(banner)
    c.add('''

#include "strata/osdep.h"
#include "qapi/dealloc-visitor.h"
#include "%(types)s"
#include "%(visit)s"
''', types=header_name,
          visit=header_name.replace('-types.h', '-visit.h'))
    for t in enums:
        gen_enum_lookup(c, t)
    for t in objects + arrays:
        if needs_free(t):
            gen_free_def(c, t)
    return h.text(), c.text()
