#
# Reader for the QAPI schema language: a JSON dialect with 'single-quoted'
# strings, '#' comments and '##' documentation blocks, and the 'include'
# and 'pragma' directives.  It produces the top-level expressions with
# their source locations and documentation; schema.py gives them meaning.
#
# SPDX-License-Identifier: GPL-2.0-or-later

import os
import re

from .error import QAPIError, QAPIParseError, SourceInfo


class Expression:
    """One top-level definition or directive as written."""

    def __init__(self, expr, info, doc):
        self.expr = expr
        self.info = info
        self.doc = doc


class Doc:
    """A documentation block.  @symbol is the name it documents (from a
    first line '@NAME:'), or None for free-form text."""

    TAGS = ('Returns', 'Since', 'Note', 'Notes', 'Example', 'Examples',
            'TODO')

    def __init__(self, info, symbol):
        self.info = info
        self.symbol = symbol
        self.body = []
        self.args = {}          # member name -> text
        self.features = {}      # feature name -> text
        self.sections = []      # (tag, text)

    def describe_args(self):
        return list(self.args)


class Parser:
    """Parse one schema file, following its includes."""

    def __init__(self, fname, parent_info=None, seen=None):
        self.fname = fname
        self.seen = seen if seen is not None else set()
        self.seen.add(os.path.realpath(fname))
        self.info = SourceInfo(fname, 1, parent_info)
        try:
            with open(fname, encoding='utf-8') as f:
                self.src = f.read()
        except OSError as e:
            raise QAPIError(parent_info,
                            "can't read %s file '%s': %s"
                            % ('include' if parent_info else 'schema',
                               fname, e.strerror))
        except UnicodeDecodeError:
            raise QAPIError(SourceInfo(fname, 1, parent_info),
                            'file is not valid UTF-8')
        if self.src and not self.src.endswith('\n'):
            self.src += '\n'
        self.pos = 0
        self.line = 1
        self.line_pos = 0
        self.exprs = []
        self.pragmas = []       # (dict, info)
        self._parse_file()

    # ---- errors ----

    def _error(self, msg, pos=None):
        """A syntax error at @pos (default: the start of the current
        token)."""
        pos = self.tok_pos if pos is None else pos
        col = 1 + pos - self.line_pos
        raise QAPIParseError(self.info.at_line(self.line), col, msg)

    # ---- lexer ----

    def _next(self):
        """Read the next token into self.tok / self.val.  Tokens: one of
        '{}[]:,', "'" for a string (value in self.val), 't' for a boolean
        (value in self.val), '#' for a comment line (text in self.val),
        None at end of file."""
        while True:
            if self.pos >= len(self.src):
                self.tok = None
                return
            ch = self.src[self.pos]
            self.tok_pos = self.pos
            self.tok_line = self.line
            if ch == '\n':
                self.pos += 1
                self.line += 1
                self.line_pos = self.pos
                continue
            if ch in ' \t\r':
                self.pos += 1
                continue
            if ch == '#':
                end = self.src.index('\n', self.pos)
                self.tok = '#'
                self.val = self.src[self.pos:end]
                self.tok_col0 = self.pos == self.line_pos
                self.pos = end
                return
            if ch in '{}[]:,':
                self.tok = ch
                self.pos += 1
                return
            if ch == "'":
                self.tok = "'"
                self.val = self._string()
                return
            m = re.match(r'[A-Za-z_][A-Za-z0-9_]*', self.src[self.pos:])
            if m and m.group() in ('true', 'false'):
                self.tok = 't'
                self.val = m.group() == 'true'
                self.pos += len(m.group())
                return
            if m:
                self._error("stray '%s'" % m.group())
            self._error("stray '%s'" % ch)

    def _string(self):
        out = []
        self.pos += 1
        while True:
            ch = self.src[self.pos]
            if ch == "'":
                self.pos += 1
                return ''.join(out)
            if ch == '\n':
                self._error('missing terminating "\'"', self.pos)
            if ch == '\\':
                self.pos += 1
                ch = self.src[self.pos]
                if ch != '\\':
                    self._error("unknown escape \\%s" % ch, self.pos)
            elif not ' ' <= ch <= '~':
                self._error('funny character in string', self.pos)
            out.append(ch)
            self.pos += 1

    def _next_value_token(self):
        """Next token that is not a comment (comments inside an
        expression are ignored; a doc block there is an error)."""
        self._next()
        while self.tok == '#':
            if self.val.startswith('##'):
                self._error('documentation comment inside a definition')
            self._next()

    # ---- values ----

    def _value(self):
        if self.tok == '{':
            return self._object()
        if self.tok == '[':
            return self._array()
        if self.tok in ("'", 't'):
            val = self.val
            self._next_value_token()
            return val
        self._error("expected '{', '[', string, or boolean")

    def _object(self, top=False):
        """Parse an object.  After a top-level one, comments (and doc
        blocks) may follow, so the next token is read as at top level."""
        obj = {}
        self._next_value_token()
        if self.tok == '}':
            self._next() if top else self._next_value_token()
            return obj
        while True:
            if self.tok != "'":
                self._error('expected string or "}"')
            key = self.val
            if key in obj:
                self._error("duplicate key '%s'" % key)
            self._next_value_token()
            if self.tok != ':':
                self._error("expected ':'")
            self._next_value_token()
            obj[key] = self._value()
            if self.tok == '}':
                self._next() if top else self._next_value_token()
                return obj
            if self.tok != ',':
                self._error("expected ',' or '}'")
            self._next_value_token()

    def _array(self):
        arr = []
        self._next_value_token()
        if self.tok == ']':
            self._next_value_token()
            return arr
        while True:
            arr.append(self._value())
            if self.tok == ']':
                self._next_value_token()
                return arr
            if self.tok != ',':
                self._error("expected ',' or ']'")
            self._next_value_token()

    # ---- documentation ----

    def _doc_block(self):
        """Called with self.tok == '#' and self.val starting with '##'."""
        if self.val != '##':
            self._error("junk after '##' at start of documentation comment")
        start_info = self.info.at_line(self.tok_line)
        lines = []
        while True:
            self._next()
            if self.tok != '#':
                self._error("documentation comment must end with '##'")
            if self.val == '##':
                break
            if self.val == '#':
                lines.append(('', self.tok_line))
            elif self.val.startswith('# '):
                lines.append((self.val[2:], self.tok_line))
            else:
                self._error("missing space after #")
        self._next()
        return self._parse_doc(start_info, lines)

    def _parse_doc(self, info, lines):
        symbol = None
        if lines:
            m = re.match(r'@([^:\s]+):\s*$', lines[0][0])
            if m:
                symbol = m.group(1)
                lines = lines[1:]
            elif lines[0][0].startswith('@'):
                raise QAPIError(info.at_line(lines[0][1]),
                                "line should end with ':'")
        doc = Doc(info, symbol)
        target = doc.body            # list of text lines being filled
        in_features = False
        for text, line in lines:
            m = re.match(r'@([^:\s]+):(.*)$', text)
            if m and symbol:
                name = m.group(1)
                table = doc.features if in_features else doc.args
                if name in table:
                    raise QAPIError(info.at_line(line),
                                    "'%s' parameter name duplicated" % name)
                table[name] = [m.group(2).strip()]
                target = table[name]
                continue
            if text == 'Features:' and symbol:
                in_features = True
                target = []
                continue
            m = re.match(r'(%s):(.*)$' % '|'.join(Doc.TAGS), text)
            if m and symbol:
                section = [m.group(2).strip()]
                doc.sections.append((m.group(1), section))
                target = section
                continue
            target.append(text)
        return doc

    # ---- top level ----

    def _parse_file(self):
        pending_doc = None
        self._next()
        while self.tok is not None:
            if self.tok == '#':
                if not self.val.startswith('##'):
                    self._next()
                    continue
                if pending_doc and pending_doc.symbol:
                    raise QAPIError(pending_doc.info,
                                    "documentation for '%s' is not followed "
                                    "by the definition" % pending_doc.symbol)
                pending_doc = self._doc_block()
                continue
            if self.tok != '{':
                self._error("expected '{'")
            info = self.info.at_line(self.tok_line)
            expr = self._object(top=True)
            if 'include' in expr:
                self._check_directive_doc(pending_doc, 'include')
                self._include(expr, info)
            elif 'pragma' in expr:
                self._check_directive_doc(pending_doc, 'pragma')
                if len(expr) != 1:
                    raise QAPIError(info, "invalid 'pragma' directive")
                self.pragmas.append((expr['pragma'], info))
            else:
                doc = pending_doc if pending_doc and pending_doc.symbol \
                    else None
                self.exprs.append(Expression(expr, info, doc))
            pending_doc = None
        if pending_doc and pending_doc.symbol:
            raise QAPIError(pending_doc.info,
                            "documentation for '%s' is not followed by the "
                            "definition" % pending_doc.symbol)

    @staticmethod
    def _check_directive_doc(doc, what):
        if doc and doc.symbol:
            raise QAPIError(doc.info,
                            "documentation for '%s' is followed by an "
                            "'%s' directive, not its definition"
                            % (doc.symbol, what))

    def _include(self, expr, info):
        if len(expr) != 1:
            raise QAPIError(info, "invalid 'include' directive")
        target = expr['include']
        if not isinstance(target, str):
            raise QAPIError(info, "value of 'include' must be a string")
        path = os.path.join(os.path.dirname(self.fname), target)
        real = os.path.realpath(path)
        parent = info
        while parent:
            if os.path.realpath(parent.fname) == real:
                raise QAPIError(info, "inclusion loop for %s" % target)
            parent = parent.parent
        if real in self.seen:
            return
        sub = Parser(path, info, self.seen)
        self.exprs.extend(sub.exprs)
        self.pragmas.extend(sub.pragmas)
