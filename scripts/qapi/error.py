#
# Source locations and the errors the QAPI generator reports.  Every error
# names the schema file and line it is about.
#
# SPDX-License-Identifier: GPL-2.0-or-later


class SourceInfo:
    """Where a definition (or a part of one) comes from."""

    def __init__(self, fname, line, parent=None):
        self.fname = fname
        self.line = line
        self.parent = parent        # SourceInfo of the 'include', if any
        self.defn_meta = None       # 'struct', 'command', ... once known
        self.defn_name = None

    def at_line(self, line):
        info = SourceInfo(self.fname, line, self.parent)
        info.defn_meta = self.defn_meta
        info.defn_name = self.defn_name
        return info

    def set_defn(self, meta, name):
        self.defn_meta = meta
        self.defn_name = name

    def location(self):
        return '%s:%d' % (self.fname, self.line)

    def context(self):
        """'In file included from ...' lines, innermost last."""
        lines = []
        parent = self.parent
        while parent:
            lines.insert(0, 'In file included from %s:' % parent.location())
            parent = parent.parent
        return lines

    def __str__(self):
        return self.location()


class QAPIError(Exception):
    """A schema error: 'FILE:LINE: message'."""

    def __init__(self, info, msg):
        super().__init__(msg)
        self.info = info
        self.msg = msg

    def __str__(self):
        if self.info is None:
            return self.msg
        where = self.info.location()
        what = ''
        if self.info.defn_name:
            what = "%s '%s'" % (self.info.defn_meta, self.info.defn_name)
            # Say which definition, unless the message does already
            what = '' if what in self.msg else what + ': '

        return '\n'.join(self.info.context() +
                         ['%s: %s%s' % (where, what, self.msg)])


class QAPIParseError(QAPIError):
    """A syntax error at a column of a line."""

    def __init__(self, info, col, msg):
        super().__init__(info, msg)
        self.col = col

    def __str__(self):
        return '\n'.join(self.info.context() +
                         ['%s:%d:%d: %s' % (self.info.fname, self.info.line,
                                            self.col, self.msg)])
