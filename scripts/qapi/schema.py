#
# The schema as a set of resolved entities: types, commands and events,
# with every reference looked up and every rule of the schema language
# checked.  Definitions whose 'if' condition is false in the build
# configuration are left out here, so the back ends never see them.
#
# SPDX-License-Identifier: GPL-2.0-or-later

from . import expr as E
from .common import c_name, c_enum_const
from .error import QAPIError
from .parser import Parser


# ---- entities ----

class Entity:
    meta = None

    def __init__(self, name, info, doc=None, features=()):
        self.name = name
        self.info = info
        self.doc = doc
        self.features = list(features)

    def c_name(self):
        return c_name(self.name)

    def is_implicit(self):
        return self.name.startswith('q_')

    def special_features(self):
        return [f for f in self.features if f in ('deprecated', 'unstable')]

    def describe(self):
        return "%s '%s'" % (self.meta, self.name)

    def __repr__(self):
        return '<%s %s>' % (type(self).__name__, self.name)


class Type(Entity):
    def c_name(self):
        # Type names are never protected: built-in 'int' stays 'int'
        return c_name(self.name, False)

    def c_type(self):
        """C type of a member or variable of this type."""
        return self.c_name() + ' *'

    def c_param_type(self):
        """C type when passed as a parameter of a command or event."""
        return self.c_type()

    def c_unboxed_type(self):
        return self.c_name()

    def json_type(self):
        raise NotImplementedError

    def alternate_qtype(self):
        """The QType constant by which an alternate recognises values
        of this type, or None if it cannot be an alternate branch."""
        return {'string': 'QTYPE_QSTRING', 'number': 'QTYPE_QNUM',
                'int': 'QTYPE_QNUM', 'boolean': 'QTYPE_QBOOL',
                'null': 'QTYPE_QNULL', 'object': 'QTYPE_QDICT'}.get(
                    self.json_type())

    def visit_name(self):
        return 'visit_type_' + self.c_name()

    def is_scalar(self):
        return False


class BuiltinType(Type):
    meta = 'built-in type'

    def __init__(self, name, json_type, c_type):
        super().__init__(name, None)
        self._json_type = json_type
        self._c_type = c_type

    def c_type(self):
        return self._c_type

    def c_param_type(self):
        return 'const char *' if self.name == 'str' else self._c_type

    def c_unboxed_type(self):
        return self._c_type

    def json_type(self):
        return self._json_type

    def is_implicit(self):
        return False

    def is_scalar(self):
        return self.name not in ('any', 'null')

    def is_pointer(self):
        return self._c_type.endswith('*')


class EnumMember:
    def __init__(self, name, features=()):
        self.name = name
        self.features = list(features)


class EnumType(Type):
    meta = 'enum'

    def __init__(self, name, info, doc, features, members, prefix=None,
                 builtin=False):
        super().__init__(name, info, doc, features)
        self.members = members
        self.prefix = prefix
        self.builtin = builtin

    def c_type(self):
        return self.c_name()

    def c_unboxed_type(self):
        return self.c_name()

    def json_type(self):
        return 'string'

    def member_names(self):
        return [m.name for m in self.members]

    def const(self, value):
        return c_enum_const(self.name, value, self.prefix)

    def is_scalar(self):
        return True


class ArrayType(Type):
    meta = 'array'

    def __init__(self, element_name, info):
        super().__init__(element_name + 'List', info)
        self.element_name = element_name
        self.element_type = None

    def c_name(self):
        return c_name(self.element_type.name, False) + 'List'

    def c_type(self):
        return self.c_name() + ' *'

    def c_unboxed_type(self):
        return self.c_name()

    def visit_name(self):
        return 'visit_type_' + self.c_name()

    def json_type(self):
        return 'array'

    def is_implicit(self):
        return True

    def is_builtin(self):
        return isinstance(self.element_type, BuiltinType) or \
            (isinstance(self.element_type, EnumType) and
             self.element_type.builtin)

    def describe(self):
        return "array of '%s'" % self.element_name


class Member:
    def __init__(self, name, type_name, optional, info, features=()):
        self.name = name
        self.type_name = type_name
        self.type = None
        self.optional = optional
        self.info = info
        self.features = list(features)
        self.owner = None           # the ObjectType that declares it

    def c_name(self):
        return c_name(self.name)

    def describe(self):
        owner = self.owner
        if owner is None:
            return "member '%s'" % self.name
        if owner.name.startswith('q_obj_') and owner.name.endswith('-arg'):
            return "parameter '%s'" % self.name
        if owner.name.startswith('q_obj_') and owner.name.endswith('-base'):
            return "base member '%s'" % self.name
        if owner.is_implicit():
            return "member '%s'" % self.name
        return "member '%s' of type '%s'" % (self.name, owner.name)


class Variant:
    def __init__(self, name, type_name, info):
        self.name = name
        self.type_name = type_name
        self.type = None
        self.info = info
        self.implicit_empty = False

    def c_name(self):
        return c_name(self.name)


class Variants:
    def __init__(self, tag_name, variants):
        self.tag_name = tag_name    # None for alternates
        self.tag_member = None
        self.variants = variants


class ObjectType(Type):
    meta = 'struct'

    def __init__(self, name, info, doc, features, base_name, members,
                 variants=None, meta='struct'):
        super().__init__(name, info, doc, features)
        self.meta = meta
        self.base_name = base_name
        self.base = None
        self.local_members = members
        for m in members:
            m.owner = self
        self.variants = variants
        self.members = None         # all members, base first, when checked
        self._checking = False

    def json_type(self):
        return 'object'

    def is_empty(self):
        return not self.members and not self.variants

    def has_variants(self):
        return self.variants is not None


class AlternateType(Type):
    meta = 'alternate'

    def __init__(self, name, info, doc, features, variants):
        super().__init__(name, info, doc, features)
        self.variants = variants

    def json_type(self):
        return 'value'

    def alternate_qtype(self):
        return None


class Command(Entity):
    meta = 'command'

    def __init__(self, name, info, doc, features, arg_name, ret_name,
                 boxed, gen, success_response, allow_oob, allow_preconfig,
                 coroutine):
        super().__init__(name, info, doc, features)
        self.arg_name = arg_name
        self.arg_type = None
        self.ret_name = ret_name
        self.ret_type = None
        self.boxed = boxed
        self.gen = gen
        self.success_response = success_response
        self.allow_oob = allow_oob
        self.allow_preconfig = allow_preconfig
        self.coroutine = coroutine


class Event(Entity):
    meta = 'event'

    def __init__(self, name, info, doc, features, arg_name, boxed):
        super().__init__(name, info, doc, features)
        self.arg_name = arg_name
        self.arg_type = None
        self.boxed = boxed


BUILTINS = [
    # name, JSON type (introspection), C type
    ('str', 'string', 'char *'),
    ('number', 'number', 'double'),
    ('int', 'int', 'int64_t'),
    ('int8', 'int', 'int8_t'),
    ('int16', 'int', 'int16_t'),
    ('int32', 'int', 'int32_t'),
    ('int64', 'int', 'int64_t'),
    ('uint8', 'int', 'uint8_t'),
    ('uint16', 'int', 'uint16_t'),
    ('uint32', 'int', 'uint32_t'),
    ('uint64', 'int', 'uint64_t'),
    ('size', 'int', 'uint64_t'),
    ('bool', 'boolean', 'bool'),
    ('any', 'value', 'json_t *'),
    ('null', 'null', 'QNull *'),
]

QTYPE_VALUES = ['none', 'qnull', 'qnum', 'qstring', 'qdict', 'qlist',
                'qbool']


# ---- the schema ----

class Schema:
    def __init__(self, fname, defines=()):
        self.fname = fname
        self.defines = set(defines)
        self.pragma = E.Pragma()
        self._entities = []
        self._by_name = {}
        # Names of members, values, branches and features each definition
        # has in the schema but not in this configuration (for doc checks)
        self._dropped = {}
        parser = Parser(fname)
        for value, info in parser.pragmas:
            self.pragma.add(value, info)
        self._define_builtins()
        for e in parser.exprs:
            self._define(e)
        self._resolve()
        self._check_docs()

    # ---- lookup ----

    def entities(self):
        return list(self._entities)

    def lookup(self, name):
        return self._by_name.get(name)

    def lookup_type(self, name):
        ent = self._by_name.get(name)
        return ent if isinstance(ent, Type) else None

    def builtin_types(self):
        return [e for e in self._entities
                if isinstance(e, BuiltinType) or
                (isinstance(e, EnumType) and e.builtin) or
                (isinstance(e, ArrayType) and e.is_builtin())]

    def types(self):
        return [e for e in self._entities if isinstance(e, Type)]

    def commands(self):
        return [e for e in self._entities if isinstance(e, Command)]

    def events(self):
        return [e for e in self._entities if isinstance(e, Event)]

    # ---- definition ----

    def _add(self, ent):
        other = self._by_name.get(ent.name)
        if other is not None:
            where = ' at %s' % other.info.location() if other.info else ''
            raise QAPIError(ent.info, "'%s' is already defined%s"
                            % (ent.name, where))
        self._by_name[ent.name] = ent
        self._entities.append(ent)
        return ent

    def _define_builtins(self):
        for name, json_type, c_type in BUILTINS:
            self._add(BuiltinType(name, json_type, c_type))
            self._array_of(name, None)
        qtype = EnumType('QType', None, None, [],
                         [EnumMember(v) for v in QTYPE_VALUES],
                         prefix='QTYPE', builtin=True)
        self._add(qtype)
        self._array_of('QType', None)
        self._add(ObjectType('q_empty', None, None, [], None, []))

    def _array_of(self, element_name, info):
        name = element_name + 'List'
        if name not in self._by_name:
            self._add(ArrayType(element_name, info))
        return name

    def _type_ref(self, ref, info):
        """Name of the type for a TYPE-REF, creating array types."""
        if isinstance(ref, list):
            return self._array_of(ref[0], info)
        return ref

    def _ok(self, cond):
        return E.eval_if(cond, self.defines)

    def _drop(self, owner, name):
        self._dropped.setdefault(owner, set()).add(name)

    def _features(self, features, owner=None):
        kept = []
        for name, cond in features:
            if self._ok(cond):
                kept.append(name)
            elif owner:
                self._drop(owner, name)
        return kept

    def _members(self, data, info, source, owner_name):
        permit = owner_name in self.pragma.member_name_exceptions
        members = []
        for m in E.normalize_members(data, info, source, permit):
            if not self._ok(m['if']):
                self._drop(owner_name, m['name'])
                continue
            members.append(Member(m['name'], self._type_ref(m['type'], info),
                                  m['optional'], info,
                                  self._features(m['features'], owner_name)))
        return members

    def _implicit_object(self, name, info, members, features=()):
        ent = ObjectType(name, info, None, features, None, members)
        return self._add(ent).name

    def _define(self, e):
        expr, info, doc = e.expr, e.info, e.doc
        meta = E.meta_of(expr, info)
        name = expr[meta]
        if not isinstance(name, str):
            raise QAPIError(info, "'%s' requires a string name" % meta)
        info.set_defn(meta, name)
        required, optional = E.META_KEYS[meta]
        E.check_keys(expr, info, "%s '%s'" % (meta, name), required,
                     optional)
        source = "%s '%s'" % (meta, name)
        if meta == 'event':
            E.check_name_upper(name, info)
        elif meta == 'command':
            E.check_name_lower(
                name, info, 'name',
                permit_underscore=name in self.pragma.command_name_exceptions)
        else:
            E.check_name_camel(name, info)
        if 'if' in expr:
            E.check_if(expr['if'], info, source)
        features = E.check_features(expr.get('features'), info, source)
        for key in ('boxed', 'gen', 'success-response', 'allow-oob',
                    'allow-preconfig', 'coroutine'):
            E.check_bool(expr, key, info, source)
        if 'prefix' in expr and not isinstance(expr['prefix'], str):
            raise QAPIError(info, "'prefix' of %s must be a string" % source)

        # Shape checks run for every definition; only definitions present
        # in this configuration become entities.
        getattr(self, '_define_' + meta)(expr, info, doc, name, source,
                                         features)

    def _define_enum(self, expr, info, doc, name, source, features):
        permit = name in self.pragma.member_name_exceptions
        values = E.normalize_enum_values(expr['data'], info, source, permit)
        if not self._ok(expr.get('if')):
            return
        members = [EnumMember(v['name'], self._features(v['features'], name))
                   for v in values if self._ok(v['if'])]
        for v in values:
            if not self._ok(v['if']):
                self._drop(name, v['name'])
        self._add(EnumType(name, info, doc, self._features(features, name),
                           members, expr.get('prefix')))

    def _define_struct(self, expr, info, doc, name, source, features):
        base = expr.get('base')
        if base is not None and not isinstance(base, str):
            raise QAPIError(info, "'base' of %s must be a type name" % source)
        members = self._members(expr['data'], info, source, name)
        if not self._ok(expr.get('if')):
            return
        self._add(ObjectType(name, info, doc, self._features(features, name),
                             base, members))

    def _define_union(self, expr, info, doc, name, source, features):
        branches = E.normalize_branches(expr['data'], info, source,
                                        allow_array='discriminator' not in
                                        expr)
        if 'discriminator' not in expr:
            return self._define_simple_union(expr, info, doc, name, source,
                                             features, branches)
        disc = expr['discriminator']
        if not isinstance(disc, str):
            raise QAPIError(info, "'discriminator' of %s must be a string"
                            % source)
        base = expr.get('base')
        if base is None:
            raise QAPIError(info, "%s with a 'discriminator' needs a 'base'"
                            % source)
        if isinstance(base, dict):
            base_members = self._members(base, info, source, name)
        elif not isinstance(base, str):
            raise QAPIError(info, "'base' of %s must be a type name or an "
                            "object" % source)
        if not self._ok(expr.get('if')):
            return
        if isinstance(base, dict):
            base = self._implicit_object('q_obj_%s-base' % name, info,
                                         base_members)
        variants = [Variant(b['name'], self._type_ref(b['type'], info), info)
                    for b in branches if self._ok(b['if'])]
        for b in branches:
            if not self._ok(b['if']):
                self._drop(name, b['name'])
        self._add(ObjectType(name, info, doc, self._features(features, name),
                             base, [], Variants(disc, variants),
                             meta='union'))

    def _define_simple_union(self, expr, info, doc, name, source, features,
                             branches):
        """The legacy form without 'discriminator': each branch's value
        sits under 'data', and an implicit enum <Name>Kind names the
        branch in member 'type'."""
        if 'base' in expr:
            raise QAPIError(info, "%s without 'discriminator' cannot have a "
                            "'base'" % source)
        if not self._ok(expr.get('if')):
            return
        branches = [b for b in branches if self._ok(b['if'])]
        kind = name + 'Kind'
        self._add(EnumType(kind, info, None, [],
                           [EnumMember(b['name']) for b in branches]))
        base = self._implicit_object('q_obj_%s-base' % name, info,
                                     [Member('type', kind, False, info)])
        variants = []
        for b in branches:
            tname = self._type_ref(b['type'], info)
            wrapper = 'q_obj_%s-wrapper' % tname
            if wrapper not in self._by_name:
                self._implicit_object(wrapper, info,
                                      [Member('data', tname, False, info)])
            variants.append(Variant(b['name'], wrapper, info))
        self._add(ObjectType(name, info, doc, self._features(features),
                             base, [], Variants('type', variants),
                             meta='union'))

    def _define_alternate(self, expr, info, doc, name, source, features):
        branches = E.normalize_branches(expr['data'], info, source)
        if not self._ok(expr.get('if')):
            return
        variants = [Variant(b['name'], b['type'], info)
                    for b in branches if self._ok(b['if'])]
        for b in branches:
            if not self._ok(b['if']):
                self._drop(name, b['name'])
        self._add(AlternateType(name, info, doc,
                                self._features(features, name),
                                Variants(None, variants)))

    def _arg_type(self, expr, info, name, source, boxed):
        data = expr.get('data')
        if data is None:
            if boxed:
                raise QAPIError(info, "%s with 'boxed': true needs 'data'"
                                % source)
            return None
        if isinstance(data, dict):
            if boxed:
                raise QAPIError(info, "'data' of %s must name a type when "
                                "'boxed' is true" % source)
            members = self._members(data, info, source, name)
            return ('members', members)
        if isinstance(data, str):
            return ('name', data)
        raise QAPIError(info, "'data' of %s must be an object or a type name"
                        % source)

    def _define_command(self, expr, info, doc, name, source, features):
        boxed = expr.get('boxed', False)
        arg = self._arg_type(expr, info, name, source, boxed)
        ret = expr.get('returns')
        if ret is not None:
            E.check_type_ref(ret, info, "'returns' of %s" % source)
        if expr.get('allow-oob') and expr.get('coroutine'):
            raise QAPIError(info, "%s cannot have both 'allow-oob' and "
                            "'coroutine'" % source)
        if not self._ok(expr.get('if')):
            return
        arg_name = self._arg_name(arg, name, info)
        ret_name = self._type_ref(ret, info) if ret is not None else None
        self._add(Command(name, info, doc, self._features(features, name),
                          arg_name, ret_name, boxed, expr.get('gen', True),
                          expr.get('success-response', True),
                          expr.get('allow-oob', False),
                          expr.get('allow-preconfig', False),
                          expr.get('coroutine', False)))

    def _arg_name(self, arg, name, info):
        if arg is None:
            return None
        kind, value = arg
        if kind == 'name':
            return value
        return self._implicit_object('q_obj_%s-arg' % name, info, value)

    def _define_event(self, expr, info, doc, name, source, features):
        boxed = expr.get('boxed', False)
        arg = self._arg_type(expr, info, name, source, boxed)
        if not self._ok(expr.get('if')):
            return
        self._add(Event(name, info, doc, self._features(features, name),
                        self._arg_name(arg, name, info), boxed))

    # ---- resolution and semantic checks ----

    def _resolve_type(self, name, info, what):
        typ = self.lookup_type(name)
        if typ is None:
            if self._by_name.get(name) is not None:
                raise QAPIError(info, "%s uses %s, which is not a type"
                                % (what, self._by_name[name].describe()))
            raise QAPIError(info, "%s uses unknown type '%s'" % (what, name))
        return typ

    def _resolve(self):
        # Arrays first: other checks look at their element types
        for ent in list(self._entities):
            if isinstance(ent, ArrayType):
                elem = self._resolve_type(ent.element_name, ent.info,
                                          "array type '%s'" % ent.name)
                if isinstance(elem, ArrayType):
                    raise QAPIError(ent.info, 'arrays of arrays are not '
                                    'supported')
                ent.element_type = elem
        for ent in list(self._entities):
            if isinstance(ent, ObjectType):
                self._check_object(ent)
            elif isinstance(ent, EnumType):
                self._check_enum(ent)
            elif isinstance(ent, AlternateType):
                self._check_alternate(ent)
        for ent in list(self._entities):
            if isinstance(ent, Command):
                self._check_command(ent)
            elif isinstance(ent, Event):
                self._check_event(ent)
        self._check_c_names()

    def _check_enum(self, ent):
        seen = {}
        for m in ent.members:
            key = c_name(m.name, False).upper()
            if key in seen:
                other = seen[key]
                raise QAPIError(ent.info, "value '%s' %s value '%s'"
                                % (m.name, 'duplicates' if other == m.name
                                   else 'collides with', other))
            seen[key] = m.name

    def _check_object(self, ent):
        if ent.members is not None:
            return
        if ent._checking:
            raise QAPIError(ent.info, "object '%s' contains itself"
                            % ent.name)
        ent._checking = True
        members = []
        if ent.base_name is not None:
            base = self._resolve_type(ent.base_name, ent.info,
                                      "%s '%s'" % (ent.meta, ent.name))
            if not isinstance(base, ObjectType) or base.has_variants():
                raise QAPIError(ent.info, "'base' of %s '%s' must be a "
                                "struct type, not %s"
                                % (ent.meta, ent.name, base.describe()))
            self._check_object(base)
            ent.base = base
            members.extend(base.members)
        for m in ent.local_members:
            m.type = self._resolve_type(m.type_name, m.info, m.describe())
        seen = {}
        for m in members + ent.local_members:
            key = m.c_name()
            if key in seen:
                raise QAPIError(ent.info, '%s collides with %s'
                                % (m.describe(), seen[key].describe()))
            seen[key] = m
        members.extend(ent.local_members)
        ent.members = members
        if ent.variants:
            self._check_variants(ent, seen)
        ent._checking = False

    def _check_variants(self, ent, seen):
        v = ent.variants
        tag = None
        for m in ent.members:
            if m.name == v.tag_name:
                tag = m
        if tag is None:
            raise QAPIError(ent.info, "discriminator '%s' is not a member of "
                            "the base of %s '%s'"
                            % (v.tag_name, ent.meta, ent.name))
        if tag.optional:
            raise QAPIError(ent.info, "discriminator member '%s' must not be "
                            "optional" % tag.name)
        if not isinstance(tag.type, EnumType):
            raise QAPIError(ent.info, "discriminator member '%s' must be of "
                            "an enum type" % tag.name)
        v.tag_member = tag
        values = tag.type.member_names()
        cases = set()
        for var in v.variants:
            if var.name not in values:
                raise QAPIError(var.info, "branch '%s' of %s '%s' is not a "
                                "value of enum '%s'"
                                % (var.name, ent.meta, ent.name,
                                   tag.type.name))
            if var.name in cases:
                raise QAPIError(var.info, "duplicate branch '%s'" % var.name)
            cases.add(var.name)
            what = "branch '%s' of %s '%s'" % (var.name, ent.meta, ent.name)
            var.type = self._resolve_type(var.type_name, var.info, what)
            if not isinstance(var.type, ObjectType) or \
               var.type.has_variants():
                raise QAPIError(var.info, '%s must be a struct type, not %s'
                                % (what, var.type.describe()))
            self._check_object(var.type)
            for m in var.type.members:
                other = seen.get(m.c_name())
                if other is not None:
                    raise QAPIError(var.info, "%s (%s) collides with %s"
                                    % (m.describe(), what,
                                       other.describe()))
        # Values without a branch select no further members; they are
        # listed explicitly (with the empty type) as introspection shows
        for value in values:
            if value not in cases:
                var = Variant(value, 'q_empty', ent.info)
                var.type = self.lookup_type('q_empty')
                var.implicit_empty = True
                v.variants.append(var)

    def _check_alternate(self, ent):
        seen_qtype = {}
        seen_name = {}
        for var in ent.variants.variants:
            what = "branch '%s' of alternate '%s'" % (var.name, ent.name)
            key = c_name(var.name)
            if key in seen_name:
                raise QAPIError(var.info, "%s collides with branch '%s'"
                                % (what, seen_name[key]))
            seen_name[key] = var.name
            var.type = self._resolve_type(var.type_name, var.info, what)
            if isinstance(var.type, ObjectType):
                self._check_object(var.type)
            qtype = var.type.alternate_qtype()
            if qtype is None or isinstance(var.type, ArrayType):
                raise QAPIError(var.info, '%s cannot use %s'
                                % (what, var.type.describe()))
            # On the command line every scalar is a string: a string
            # branch must not be confusable with a number or boolean one
            conflicting = {qtype}
            if qtype == 'QTYPE_QSTRING':
                if isinstance(var.type, EnumType):
                    for value in var.type.member_names():
                        if value in ('on', 'off'):
                            conflicting.add('QTYPE_QBOOL')
                        if value[0] in '-+0123456789.':
                            conflicting.add('QTYPE_QNUM')
                else:
                    conflicting.update(('QTYPE_QNUM', 'QTYPE_QBOOL'))
            for qt in conflicting:
                if qt in seen_qtype:
                    raise QAPIError(var.info, "%s can't be distinguished "
                                    "from branch '%s'"
                                    % (what, seen_qtype[qt]))
            for qt in conflicting:
                seen_qtype[qt] = var.name

    def _check_arg(self, ent, what):
        if ent.arg_name is None:
            return None
        typ = self._resolve_type(ent.arg_name, ent.info, what)
        if not isinstance(typ, ObjectType):
            raise QAPIError(ent.info, "'data' of %s must be a struct or "
                            "union type, not %s" % (what, typ.describe()))
        self._check_object(typ)
        if typ.has_variants() and not ent.boxed:
            raise QAPIError(ent.info, "'data' of %s can be a union type only "
                            "with 'boxed': true" % what)
        return typ

    def _check_command(self, ent):
        what = "command '%s'" % ent.name
        ent.arg_type = self._check_arg(ent, what)
        if ent.ret_name is None:
            return
        ent.ret_type = self._resolve_type(ent.ret_name, ent.info,
                                          "'returns' of %s" % what)
        if ent.name in self.pragma.command_returns_exceptions:
            return
        typ = ent.ret_type
        if isinstance(typ, ArrayType):
            typ = typ.element_type
        if not isinstance(typ, ObjectType):
            raise QAPIError(ent.info, "%s must return a struct type or an "
                            "array of one, not %s"
                            % (what, ent.ret_type.describe()))

    def _check_event(self, ent):
        ent.arg_type = self._check_arg(ent, "event '%s'" % ent.name)

    def _check_c_names(self):
        """Distinct schema names must stay distinct in C."""
        seen = {}
        for ent in self._entities:
            if isinstance(ent, (Command, Event)):
                continue
            key = ent.c_name()
            if key in seen and seen[key] is not ent:
                raise QAPIError(ent.info, "'%s' and '%s' have the same C "
                                "name '%s'" % (ent.name, seen[key].name, key))
            seen[key] = ent
        for kind in (Command, Event):
            seen = {}
            for ent in self._entities:
                if isinstance(ent, kind):
                    key = c_name(ent.name, False).lower()
                    if key in seen:
                        raise QAPIError(ent.info, "'%s' and '%s' have the "
                                        "same C name"
                                        % (ent.name, seen[key].name))
                    seen[key] = ent

    # ---- documentation ----

    def _check_docs(self):
        for ent in self._entities:
            doc = ent.doc
            if doc is None:
                if self.pragma.doc_required and ent.info and \
                   not ent.is_implicit() and \
                   not (isinstance(ent, EnumType) and
                        ent.name.endswith('Kind')):
                    raise QAPIError(ent.info, 'documentation comment '
                                    'required')
                continue
            if doc.symbol != ent.name:
                raise QAPIError(ent.info, "definition of '%s' follows "
                                "documentation for '%s'"
                                % (ent.name, doc.symbol))
            dropped = self._dropped.get(ent.name, set())
            names = self._documentable(ent) | dropped
            info = doc.info.at_line(doc.info.line)
            info.set_defn(ent.meta, ent.name)
            for arg in doc.args:
                if arg not in names:
                    raise QAPIError(info, "documented member '%s' does not "
                                    "exist" % arg)
            for feat in doc.features:
                if feat not in self._feature_names(ent) | dropped:
                    raise QAPIError(info, "documented feature '%s' does not "
                                    "exist" % feat)

    def _documentable(self, ent):
        if isinstance(ent, EnumType):
            return set(ent.member_names())
        if isinstance(ent, AlternateType):
            return {v.name for v in ent.variants.variants}
        if isinstance(ent, ObjectType):
            names = {m.name for m in ent.members}
            if ent.variants:
                names |= {v.name for v in ent.variants.variants}
            return names
        if ent.arg_type is not None:
            return {m.name for m in ent.arg_type.members}
        return set()

    def _feature_names(self, ent):
        names = set(ent.features)
        members = []
        if isinstance(ent, ObjectType):
            members = ent.local_members
        elif isinstance(ent, (Command, Event)) and ent.arg_type is not None:
            members = ent.arg_type.members
        elif isinstance(ent, EnumType):
            members = ent.members
        for m in members:
            names |= set(m.features)
        return names
