#
# Naming and text helpers shared by the QAPI generator's back ends:
# schema names to C identifiers, and indentation-aware code templates.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import re

# Identifiers a member or value may not keep as they are in C: the
# keywords of C89..C11, GNU and C++ keywords that headers may meet, and
# names that common system headers define as macros.
_C_RESERVED = frozenset('''
    auto break case char const continue default do double else enum extern
    float for goto if int long register return short signed sizeof static
    struct switch typedef union unsigned void volatile while
    inline restrict _Bool _Complex _Imaginary
    _Alignas _Alignof _Atomic _Generic _Noreturn _Static_assert _Thread_local
    asm typeof
    bool true false
    and and_eq bitand bitor catch class compl const_cast delete dynamic_cast
    explicit friend mutable namespace new not not_eq operator or
    or_eq private protected public reinterpret_cast static_cast template
    this throw try typeid typename using virtual wchar_t xor xor_eq
    unix errno mips sparc i386 linux
'''.split())


def c_name(name, protect=True):
    """Map a schema name to a C identifier.

    Every character other than letters, digits and '_' becomes '_'.  With
    @protect, names that would clash with C keywords or well-known macros,
    or that start with a digit, get a 'q_' prefix.
    """
    ident = re.sub(r'[^A-Za-z0-9_]', '_', name)
    if protect and (ident in _C_RESERVED or ident[0].isdigit()):
        return 'q_' + ident
    return ident


def camel_to_upper(name):
    """Turn a CamelCase type name into the UPPER_CASE prefix of its enum
    constants: BlockdevDriver -> BLOCKDEV_DRIVER, QCryptoBlockFormat ->
    Q_CRYPTO_BLOCK_FORMAT, Qcow2OverlapCheckMode -> QCOW2_OVERLAP_CHECK_MODE.

    A word break goes before an upper-case letter that follows anything
    but '_' when the next letter is lower case (the start of a word after
    an acronym) or when a digit precedes it.
    """
    ident = c_name(name, False)
    if ident.isupper():
        return ident
    out = []
    for i, ch in enumerate(ident):
        if ch.isupper() and i > 0 and ident[i - 1] != '_':
            next_lower = i + 1 < len(ident) and ident[i + 1].islower()
            if next_lower or ident[i - 1].isdigit():
                out.append('_')
        out.append(ch)
    return ''.join(out).lstrip('_').upper()


def c_enum_const(type_name, value, prefix=None):
    """The C constant for @value of enum @type_name."""
    stem = prefix if prefix is not None else camel_to_upper(type_name)
    return stem + '_' + c_name(value, False).upper()


def c_string(text):
    """A C string literal for @text (ASCII)."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append('\\' + ch)
        elif ch == '\n':
            out.append('\\n')
        elif ' ' <= ch <= '~':
            out.append(ch)
        else:
            out.append('\\%03o' % ord(ch))
    return '"' + ''.join(out) + '"'


class Code:
    """Accumulates C text.  add() takes a template whose first newline is
    dropped and whose lines are re-indented to the current level, so the
    generators can keep templates readable in triple-quoted strings."""

    def __init__(self):
        self._parts = []
        self._indent = 0

    def indent(self, n=4):
        self._indent += n

    def dedent(self, n=4):
        self._indent -= n
        assert self._indent >= 0

    def add(self, template='', **kwargs):
        text = template % kwargs if kwargs else template
        if text.startswith('\n'):
            text = text[1:]
        if self._indent:
            pad = ' ' * self._indent
            text = '\n'.join(pad + line if line.strip() else line
                             for line in text.split('\n'))
        self._parts.append(text)

    def raw(self, text):
        self._parts.append(text)

    def text(self):
        return ''.join(self._parts)


def guard_name(filename):
    return re.sub(r'[^A-Za-z0-9]', '_', filename).upper()
