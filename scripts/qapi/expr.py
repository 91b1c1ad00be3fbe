#
# Shape checks for top-level schema expressions: which keys a definition
# may have, what kind of value each key takes, name conventions, and
# 'if' conditions.  These run before any name is resolved; schema.py
# checks what the definitions mean.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import re

from .error import QAPIError

META_KEYS = {
    # meta: (required keys, optional keys)
    'enum': (('enum', 'data'), ('prefix', 'if', 'features')),
    'struct': (('struct', 'data'), ('base', 'if', 'features')),
    'union': (('union', 'data'), ('base', 'discriminator', 'if',
                                  'features')),
    'alternate': (('alternate', 'data'), ('if', 'features')),
    'command': (('command',), ('data', 'returns', 'boxed', 'gen',
                               'success-response', 'allow-oob',
                               'allow-preconfig', 'coroutine', 'if',
                               'features')),
    'event': (('event',), ('data', 'boxed', 'if', 'features')),
}

PRAGMA_KEYS = ('doc-required', 'command-name-exceptions',
               'command-returns-exceptions', 'member-name-exceptions')

# A name, optionally with a downstream "__RFQDN_" prefix
_NAME_RE = re.compile(r'(__[a-z0-9.-]+_)?([A-Za-z][A-Za-z0-9_-]*)$')
_VALUE_RE = re.compile(r'(__[a-z0-9.-]+_)?([A-Za-z0-9][A-Za-z0-9_-]*)$')


class Pragma:
    def __init__(self):
        self.doc_required = False
        self.command_name_exceptions = set()
        self.command_returns_exceptions = set()
        self.member_name_exceptions = set()

    def add(self, value, info):
        if not isinstance(value, dict):
            raise QAPIError(info, "value of 'pragma' must be an object")
        for key, val in value.items():
            if key not in PRAGMA_KEYS:
                raise QAPIError(info, "unknown pragma '%s'" % key)
            if key == 'doc-required':
                if not isinstance(val, bool):
                    raise QAPIError(info, "pragma 'doc-required' must be "
                                    "boolean")
                self.doc_required = val
                continue
            if not isinstance(val, list) or \
               not all(isinstance(v, str) for v in val):
                raise QAPIError(info, "pragma %s must be a list of strings"
                                % key)
            getattr(self, key.replace('-', '_')).update(val)


def meta_of(expr, info):
    metas = [m for m in META_KEYS if m in expr]
    if not metas:
        raise QAPIError(info, 'expression is missing metatype')
    if len(metas) > 1:
        raise QAPIError(info, 'expression has several metatypes: %s'
                        % ', '.join("'%s'" % m for m in metas))
    return metas[0]


def check_keys(value, info, source, required, optional):
    for key in required:
        if key not in value:
            raise QAPIError(info, "%s misses key '%s'" % (source, key))
    allowed = set(required) | set(optional)
    for key in value:
        if key not in allowed:
            raise QAPIError(info, "%s has unknown key '%s'%s"
                            % (source, key,
                               '' if not allowed else
                               ' (valid: %s)' % ', '.join(
                                   "'%s'" % k for k in sorted(allowed))))


def check_name_str(name, info, kind, value=False):
    """Check the shape of @name (a @kind: 'name', 'member', 'value' ...);
    return it without its downstream prefix."""
    if not isinstance(name, str):
        raise QAPIError(info, '%s must be a string' % kind)
    m = (_VALUE_RE if value else _NAME_RE).match(name)
    if not m:
        raise QAPIError(info, "%s '%s' is not a valid name" % (kind, name))
    stem = m.group(2)
    if stem.startswith('q_') or stem.startswith('q-'):
        raise QAPIError(info, "%s '%s' uses a reserved name" % (kind, name))
    return stem


def check_name_camel(name, info):
    stem = check_name_str(name, info, 'name')
    if not re.match(r'[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$', stem):
        raise QAPIError(info, "name '%s' must use CamelCase" % name)
    if stem.endswith('List'):
        raise QAPIError(info, "name '%s' must not end in 'List' (reserved "
                        "for array types)" % name)


def check_name_lower(name, info, kind, permit_upper=False,
                     permit_underscore=False, value=False):
    stem = check_name_str(name, info, kind, value)
    if not permit_upper and stem.lower() != stem:
        raise QAPIError(info, "%s '%s' must not use upper case"
                        % (kind, name))
    if not permit_underscore and '_' in stem:
        raise QAPIError(info, "%s '%s' must use '-', not '_'" % (kind, name))
    return stem


def check_name_upper(name, info):
    stem = check_name_str(name, info, 'name')
    if stem.upper() != stem or '-' in stem:
        raise QAPIError(info, "name '%s' must be upper case with '_'" % name)


def check_bool(expr, key, info, source):
    if key in expr and not isinstance(expr[key], bool):
        raise QAPIError(info, "'%s' of %s must be true or false"
                        % (key, source))


# ---- conditions ----

def check_if(cond, info, source):
    """Check the syntax of an 'if' condition."""
    if isinstance(cond, str):
        if not re.match(r'[A-Za-z_][A-Za-z0-9_]*$', cond):
            raise QAPIError(info, "'if' condition '%s' of %s is not a valid "
                            "identifier" % (cond, source))
        return
    if not isinstance(cond, dict):
        raise QAPIError(info, "'if' condition of %s must be a string or an "
                        "object" % source)
    if len(cond) != 1:
        raise QAPIError(info, "'if' condition of %s must have exactly one "
                        "of 'all', 'any', 'not'" % source)
    (op, arg), = cond.items()
    if op == 'not':
        check_if(arg, info, source)
    elif op in ('all', 'any'):
        if not isinstance(arg, list) or not arg:
            raise QAPIError(info, "'if' condition '%s' of %s needs a "
                            "non-empty list" % (op, source))
        for sub in arg:
            check_if(sub, info, source)
    else:
        raise QAPIError(info, "'if' condition of %s has unknown operator "
                        "'%s'" % (source, op))


def eval_if(cond, defines):
    if cond is None:
        return True
    if isinstance(cond, str):
        return cond in defines
    (op, arg), = cond.items()
    if op == 'not':
        return not eval_if(arg, defines)
    if op == 'all':
        return all(eval_if(c, defines) for c in arg)
    return any(eval_if(c, defines) for c in arg)


# ---- normalisation of the shorthand forms ----

def check_features(features, info, source):
    """Return the list of (name, ifcond) of a 'features' value."""
    if features is None:
        return []
    if not isinstance(features, list):
        raise QAPIError(info, "'features' of %s must be an array" % source)
    out = []
    for f in features:
        if isinstance(f, str):
            f = {'name': f}
        what = "feature '%s'" % (f.get('name') if isinstance(f, dict)
                                 else f)
        if not isinstance(f, dict):
            raise QAPIError(info, '%s must be a string or an object' % what)
        check_keys(f, info, what, ('name',), ('if',))
        check_name_lower(f['name'], info, 'feature')
        if 'if' in f:
            check_if(f['if'], info, what)
        if f['name'] in [n for n, _ in out]:
            raise QAPIError(info, "duplicate feature '%s'" % f['name'])
        out.append((f['name'], f.get('if')))
    return out


def check_type_ref(value, info, source, allow_array=True):
    if isinstance(value, str):
        return
    if isinstance(value, list) and allow_array:
        if len(value) != 1 or not isinstance(value[0], str):
            raise QAPIError(info, '%s: an array type must be written as '
                            "['TYPE'], with one type name" % source)
        return
    raise QAPIError(info, '%s should be a type name%s'
                    % (source, ' or an array of one' if allow_array else ''))


def normalize_members(data, info, source, permit_upper, allow_optional=True,
                      allow_array=True, key_kind='member'):
    """Expand a MEMBERS object into a list of dicts with keys name,
    optional, type, if, features."""
    if not isinstance(data, dict):
        raise QAPIError(info, "'data' of %s must be an object" % source)
    out = []
    for key, value in data.items():
        optional = key.startswith('*')
        name = key[1:] if optional else key
        what = "%s '%s'" % (key_kind, name)
        if optional and not allow_optional:
            raise QAPIError(info, '%s cannot be optional' % what)
        check_name_lower(name, info, key_kind, permit_upper, permit_upper)
        if name == 'u' or name.startswith('has-') or \
           name.startswith('has_'):
            raise QAPIError(info, '%s uses a reserved name' % what)
        if isinstance(value, dict):
            check_keys(value, info, what, ('type',), ('if', 'features'))
            typ = value['type']
            cond = value.get('if')
            if cond is not None:
                check_if(cond, info, what)
            features = check_features(value.get('features'), info, what)
        else:
            typ = value
            cond = None
            features = []
        check_type_ref(typ, info, what, allow_array)
        out.append({'name': name, 'optional': optional, 'type': typ,
                    'if': cond, 'features': features})
    return out


def normalize_enum_values(data, info, source, permit_upper):
    if not isinstance(data, list):
        raise QAPIError(info, "'data' of %s must be an array" % source)
    out = []
    for v in data:
        if isinstance(v, str):
            v = {'name': v}
        if not isinstance(v, dict):
            raise QAPIError(info, 'values of %s must be strings or objects'
                            % source)
        what = "value '%s'" % v['name']
        check_keys(v, info, what, ('name',), ('if', 'features'))
        check_name_lower(v['name'], info, 'value', permit_upper,
                         permit_upper, value=True)
        if 'if' in v:
            check_if(v['if'], info, what)
        out.append({'name': v['name'], 'if': v.get('if'),
                    'features': check_features(v.get('features'), info,
                                               what)})
    return out


def normalize_branches(data, info, source, allow_array=False):
    """Union and alternate branches: list of dicts name, type, if."""
    if not isinstance(data, dict):
        raise QAPIError(info, "'data' of %s must be an object" % source)
    if not data:
        raise QAPIError(info, '%s has no branches' % source)
    out = []
    for name, value in data.items():
        what = "branch '%s'" % name
        check_name_str(name, info, 'branch', value=True)
        if isinstance(value, dict):
            check_keys(value, info, what, ('type',), ('if',))
            typ = value['type']
            cond = value.get('if')
            if cond is not None:
                check_if(cond, info, what)
        else:
            typ = value
            cond = None
        check_type_ref(typ, info, what, allow_array)
        out.append({'name': name, 'type': typ, 'if': cond})
    return out
