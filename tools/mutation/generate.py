"""Mutants of a kata's reference solution, found on libclang's syntax tree.

A mutant is one small edit of one solutions/<topic>/*.cc file (demo.cc
excluded: it is not the learner's code), the kind of slip a learner makes:
`<` where `<=` was meant, a forgotten close(), O_EXCL left out, an EINTR retry
never written. Its id, file:line:col:operator, names the edited token's place
in the unmutated file (1-based line and byte column), so the same source
always gives the same mutants with the same ids, in the same order.

Only tokens written in the .cc itself are edited: an operator inside a macro's
expansion (WIFEXITED, errno) is never touched, though a macro's name used as a
value (O_EXCL, EINTR) may be.
"""

import dataclasses
import difflib
import glob
import os
import re
import sys
import tempfile

try:
    from clang import cindex
except ImportError:  # pyenv's python3: Debian installs the binding elsewhere
    sys.path.append("/usr/lib/python3/dist-packages")
    from clang import cindex

K = cindex.CursorKind

# Operator name -> what it does (in the order mutants at one place are listed).
OPERATORS = {
    "boundary": "relational boundary: < and <=, > and >= exchanged",
    "equality": "== and != exchanged",
    "negate": "a condition negated (if, while, for, do, ?:)",
    "not": "a logical not (!) removed",
    "logic": "&& and || exchanged",
    "eintr": "an EINTR retry removed: errno == EINTR made false (!= true), "
             "a `case EINTR:` label removed, or one call site's "
             "RetryOnEintr(...) helper unwrapped",
    "call": "a call statement removed (close, unlink, waitpid, reset(), ...)",
    "flag": "a flag dropped from a bitwise or (O_EXCL, MSG_NOSIGNAL, ...), a "
            "lone flag argument made 0, or a `flags |= X;` removed",
    "plus1": "an integer constant plus one",
    "minus1": "an integer constant minus one",
    "swap": "two neighbouring arguments of the same type exchanged",
    "jump": "a break or continue removed",
    "bool": "true and false exchanged",
}
ORDER = {name: index for index, name in enumerate(OPERATORS)}

BOUNDARY = {"<": "<=", "<=": "<", ">": ">=", ">=": ">"}
EQUALITY = {"==": "!=", "!=": "=="}
LOGIC = {"&&": "||", "||": "&&"}
OVERLOADED = {"operator" + op for op in list(BOUNDARY) + list(EQUALITY)}
# A lone argument that is one of these flags is made 0. Names whose value is
# 0 already (O_RDONLY, PROT_NONE) are left out: the mutant would be the
# original.
LONE_FLAG = re.compile(
    r"^(O_(?!RDONLY$)[A-Z]+|MSG_[A-Z]+|IPC_(CREAT|EXCL|NOWAIT)|"
    r"SOCK_(CLOEXEC|NONBLOCK)|SA_[A-Z]+|MAP_[A-Z]+|PROT_(?!NONE$)[A-Z]+|"
    r"MFD_[A-Z]+|EFD_[A-Z]+|WNOHANG|WUNTRACED|S_I[A-Z]+|FD_CLOEXEC|SEM_UNDO|"
    r"POLL[A-Z]+)$")
INTEGER = re.compile(r"^(0[xX][0-9a-fA-F']+|0[0-7']*|[1-9][0-9']*)([uUlLzZ]*)$")
INTEGRAL = {getattr(cindex.TypeKind, name) for name in (
    "BOOL", "CHAR_U", "UCHAR", "USHORT", "UINT", "ULONG", "ULONGLONG",
    "CHAR_S", "SCHAR", "SHORT", "INT", "LONG", "LONGLONG", "ENUM")}
STATEMENT_PARENTS = (K.COMPOUND_STMT, K.IF_STMT, K.WHILE_STMT, K.FOR_STMT,
                     K.DO_STMT, K.CASE_STMT, K.DEFAULT_STMT, K.LABEL_STMT)


@dataclasses.dataclass
class Mutant:
    topic: str
    file: str          # its name inside solutions/<topic>
    line: int
    col: int
    op: str
    edits: list        # [(start byte, end byte, replacement bytes)]
    description: str
    source_line: str   # the unmutated line, stripped (finds a moved mutant)

    @property
    def id(self):
        return f"{self.file}:{self.line}:{self.col}:{self.op}"

    @property
    def package(self):
        """Its Bazel package's folder name: the id with safe characters."""
        stem = os.path.splitext(self.file)[0]
        return f"{stem}_{self.line}_{self.col}_{self.op}"

    def apply(self, source):
        out = source
        for start, end, text in sorted(self.edits, reverse=True):
            out = out[:start] + text + out[end:]
        return out

    def diff(self, source):
        path = f"solutions/{self.topic}/{self.file}"
        before = source.decode(errors="replace").splitlines(keepends=True)
        after = self.apply(source).decode(errors="replace").splitlines(
            keepends=True)
        return "".join(difflib.unified_diff(before, after, "a/" + path,
                                            "b/" + path, n=1))


def sources(root, topic):
    """The learner's .cc files of a topic (demo.cc is not the learner's)."""
    return sorted(os.path.basename(p) for p in glob.glob(
        os.path.join(root, "solutions", topic, "*.cc"))
        if os.path.basename(p) != "demo.cc")


def generate(root, topic):
    """Every mutant of solutions/<topic>/*.cc, in a fixed order."""
    root = os.path.abspath(root)
    mutants = []
    with tempfile.TemporaryDirectory(prefix="mutate-include-") as include:
        # The sources include "<topic>/<name>.h" (the library's
        # include_prefix): a folder with that name makes it resolve.
        os.symlink(os.path.join(root, "solutions", topic),
                   os.path.join(include, topic))
        for name in sources(root, topic):
            path = os.path.join(root, "solutions", topic, name)
            mutants += Finder(topic, name, path, [f"-I{include}",
                                                  f"-I{root}"]).run()
    return mutants


def generate_file(topic, name, path, include_args=()):
    """The mutants of one file (for tests: any C++ file)."""
    return Finder(topic, name, path, list(include_args)).run()


class ParseError(Exception):
    pass


class Finder:
    """Walks one file's syntax tree and collects its mutants."""

    def __init__(self, topic, name, path, include_args):
        self.topic, self.name, self.path = topic, name, path
        with open(path, "rb") as f:
            self.src = f.read()
        index = cindex.Index.create()
        self.tu = index.parse(path, args=["-x", "c++", "-std=c++20",
                                          *include_args])
        errors = [d for d in self.tu.diagnostics
                  if d.severity >= cindex.Diagnostic.Error]
        if errors:
            raise ParseError(f"{path}: libclang cannot parse it: "
                             + "; ".join(str(e) for e in errors[:3]))
        self.found = {}       # (start, op, edits) -> Mutant
        self.no_literals = []  # [start, end) spans of declarations' types

    # ------------------------------------------------------------- helpers

    def mine(self, cursor):
        start, end = cursor.extent.start, cursor.extent.end
        return (start.file is not None and start.file.name == self.path
                and end.file is not None and end.file.name == self.path)

    def text(self, cursor):
        return self.src[cursor.extent.start.offset:cursor.extent.end.offset]

    def next_char(self, offset):
        """The next non-blank byte at or after offset (b"" at the end)."""
        rest = self.src[offset:].lstrip()
        return rest[:1]

    def prev_char(self, offset):
        return self.src[:offset].rstrip()[-1:]

    def line_col(self, offset):
        line = self.src.count(b"\n", 0, offset) + 1
        col = offset - (self.src.rfind(b"\n", 0, offset) + 1) + 1
        return line, col

    def add(self, offset, op, edits, description):
        edits = [(s, e, t if isinstance(t, bytes) else t.encode())
                 for s, e, t in edits]
        line, col = self.line_col(offset)
        start = self.src.rfind(b"\n", 0, offset) + 1
        end = self.src.find(b"\n", offset)
        source_line = self.src[start:end if end >= 0 else None].decode(
            errors="replace").strip()
        key = (offset, op, tuple(edits))
        if key not in self.found:
            self.found[key] = Mutant(self.topic, self.name, line, col, op,
                                     edits, description, source_line)

    @staticmethod
    def core(cursor):
        """The expression under implicit conversions (UNEXPOSED_EXPR)."""
        while cursor.kind == K.UNEXPOSED_EXPR:
            children = list(cursor.get_children())
            if len(children) != 1:
                break
            cursor = children[0]
        return cursor

    def binary_op(self, cursor):
        """(lhs, operator text, operator offset, rhs) of a binary operator
        written in this file, else None (e.g. one inside a macro). Besides
        built-in operators: a class type's overloaded comparison (a CALL_EXPR
        `operator==` of std::string, iterators), also C++20's `a != b`
        rewritten as `!(a == b)`."""
        if cursor.kind == K.UNARY_OPERATOR and self.text(cursor).startswith(
                b"!="):
            inner = list(cursor.get_children())
            cursor = self.core(inner[0]) if len(inner) == 1 else cursor
        if cursor.kind == K.CALL_EXPR:
            if cursor.spelling not in OVERLOADED:
                return None
            children = list(cursor.get_arguments())
        elif cursor.kind in (K.BINARY_OPERATOR,
                             K.COMPOUND_ASSIGNMENT_OPERATOR):
            children = list(cursor.get_children())
        else:
            return None
        if len(children) != 2:
            return None
        lhs, rhs = children
        a, b = lhs.extent.end.offset, rhs.extent.start.offset
        if not (self.mine(lhs) and self.mine(rhs)) or a >= b:
            return None
        between = self.src[a:b]
        op = between.strip().decode(errors="replace")
        if not op or not re.fullmatch(r"[<>=!&|^+\-*/%]+", op):
            return None
        return lhs, op, a + (len(between) - len(between.lstrip())), rhs

    def statement_removal(self, cursor, parent):
        """Edits that delete the statement `cursor` is (with its `;`), or
        None when it is no statement of its own."""
        start, end = cursor.extent.start.offset, cursor.extent.end.offset
        if parent.kind not in STATEMENT_PARENTS:
            return None
        if self.next_char(end) != b";":
            return None
        if parent.kind != K.COMPOUND_STMT:
            # The body of an if, a loop or a case: before it stands `)`,
            # `else`, `do` or `:` (a for's init or increment does not).
            if self.prev_char(start) not in (b")", b"e", b"o", b":"):
                return None
            return [(start, end, b"")]  # `if (x) ;` keeps the grammar
        semicolon = self.src.index(b";", end) + 1
        line_start = self.src.rfind(b"\n", 0, start) + 1
        line_end = self.src.find(b"\n", semicolon)
        if (not self.src[line_start:start].strip()
                and not self.src[semicolon:line_end].strip()):
            return [(line_start, line_end + 1, b"")]  # the whole line
        return [(start, semicolon, b"")]

    def constant(self, cursor):
        """Whether an argument is or contains a literal or a macro constant
        (F_SETFL, STDIN_FILENO, 0600, "%s"): exchanging such arguments is
        hardly a learner's slip, and often does not compile."""
        text = self.text(self.core(cursor)).strip()
        return bool(re.search(rb"\b[A-Z][A-Z0-9_]+\b|\bk[A-Z]\w*|"
                              rb"(^|[^\w.])[0-9]|\"|"
                              rb"\bnullptr\b|\btrue\b|\bfalse\b", text))

    def type_of(self, cursor):
        """The spelling of an argument's own type (before conversions), top-
        level const removed."""
        kind = self.core(cursor).type.get_canonical()
        spelling = kind.spelling
        if kind.kind == cindex.TypeKind.POINTER:
            return spelling.removesuffix(" const")
        return spelling.removeprefix("const ")

    @staticmethod
    def short(text, limit=60):
        text = " ".join(text.decode(errors="replace").split())
        return text if len(text) <= limit else text[:limit - 3] + "..."

    # ---------------------------------------------------------------- walk

    def run(self):
        self.walk(self.tu.cursor)
        found = sorted(self.found.values(),
                       key=lambda m: (m.line, m.col, ORDER[m.op], m.edits))
        seen = set()
        for mutant in found:
            # One operator makes at most one mutant at one place; two would
            # share an id and a package.
            if mutant.id in seen:
                raise ParseError(f"{self.path}: two mutants {mutant.id}")
            seen.add(mutant.id)
        return found

    def walk(self, cursor, ancestors=()):
        ancestors = (cursor,) + ancestors
        for child in cursor.get_children():
            if not self.mine(child):
                continue
            self.examine(child, ancestors)
            self.walk(child, ancestors)

    def examine(self, c, ancestors):
        parent = ancestors[0]
        kind = c.kind
        if kind in (K.VAR_DECL, K.FIELD_DECL):
            self.declaration(c)
        elif kind == K.BINARY_OPERATOR:
            self.binary(c, parent)
        elif kind == K.COMPOUND_ASSIGNMENT_OPERATOR:
            self.compound_assignment(c, parent)
        elif kind == K.UNARY_OPERATOR:
            self.unary(c)
        elif kind in (K.IF_STMT, K.WHILE_STMT, K.FOR_STMT, K.DO_STMT,
                      K.CONDITIONAL_OPERATOR):
            self.condition(c)
        elif kind == K.CASE_STMT:
            self.case(c)
        elif kind == K.INTEGER_LITERAL:
            self.literal(c, ancestors)
        elif kind == K.CXX_BOOL_LITERAL_EXPR:
            self.boolean(c)
        elif kind in (K.BREAK_STMT, K.CONTINUE_STMT):
            self.jump(c, parent)
        if kind == K.CALL_EXPR:
            self.call_arguments(c)
            if c.spelling in OVERLOADED:
                self.binary(c, parent)
        if kind in (K.CALL_EXPR, K.UNEXPOSED_EXPR, K.CSTYLE_CAST_EXPR):
            self.call_statement(c, parent)

    # ----------------------------------------------------------- operators

    def declaration(self, c):
        # Literals in a declaration's type (template arguments before the
        # name, array bounds after it) are not mutated: a bigger buffer
        # changes nothing a test can see, a smaller one is rarely more than
        # a crash. Initializers are mutated.
        pos = re.compile(rb"[A-Za-z_0-9]*").match(self.src,
                                                  c.location.offset).end()
        while self.next_char(pos) == b"[":
            pos = self.src.index(b"]", pos) + 1
        self.no_literals.append((c.extent.start.offset, pos))

    def binary(self, c, parent):
        parts = self.binary_op(c)
        if parts is None:
            return
        lhs, op, at, rhs = parts
        start, end = c.extent.start.offset, c.extent.end.offset
        width = len(op)
        if op in BOUNDARY:
            self.add(at, "boundary", [(at, at + width, BOUNDARY[op])],
                     f"`{op}` becomes `{BOUNDARY[op]}`")
        if op in EQUALITY:
            self.add(at, "equality", [(at, at + width, EQUALITY[op])],
                     f"`{op}` becomes `{EQUALITY[op]}`")
            if b"EINTR" in (self.text(lhs).strip(), self.text(rhs).strip()):
                value = "false" if op == "==" else "true"
                self.add(start, "eintr", [(start, end, value)],
                         f"`{self.short(self.text(c))}` becomes `{value}`: "
                         f"EINTR is no longer retried")
        if op in LOGIC:
            self.add(at, "logic", [(at, at + width, LOGIC[op])],
                     f"`{op}` becomes `{LOGIC[op]}`")
        if op == "|" and not self.is_or(parent):
            self.flag_chain(c)

    def is_or(self, cursor):
        if cursor.kind != K.BINARY_OPERATOR:
            return False
        parts = self.binary_op(cursor)
        return parts is not None and parts[1] == "|"

    def flag_chain(self, c):
        leaves = []

        def flatten(node):
            node = self.core(node)
            if self.is_or(node):
                lhs, _, _, rhs = self.binary_op(node)
                flatten(lhs)
                flatten(rhs)
            else:
                leaves.append(node)

        flatten(c)
        whole = self.short(self.text(c))
        for i, leaf in enumerate(leaves):
            s, e = leaf.extent.start.offset, leaf.extent.end.offset
            if i == 0:
                edit = (s, leaves[1].extent.start.offset, b"")
            else:
                edit = (leaves[i - 1].extent.end.offset, e, b"")
            self.add(s, "flag", [edit],
                     f"`{self.short(self.text(leaf))}` dropped from "
                     f"`{whole}`")

    def compound_assignment(self, c, parent):
        parts = self.binary_op(c)
        if parts is None or parts[1] != "|=":
            return
        edits = self.statement_removal(c, parent)
        if edits:
            self.add(c.extent.start.offset, "flag", edits,
                     f"`{self.short(self.text(c))};` removed")

    def logical_not(self, c):
        """The operand of a `!x` written in this file, else None. (C++20
        rewrites `a != b` as `!(a == b)` when only == is declared: that
        unary operator's text starts with `!=` and is not one.)"""
        if c.kind != K.UNARY_OPERATOR:
            return None
        operand = list(c.get_children())
        if len(operand) != 1 or not self.mine(operand[0]):
            return None
        start = c.extent.start.offset
        if self.src[start:operand[0].extent.start.offset].strip() != b"!":
            return None
        return operand[0]

    def unary(self, c):
        operand = self.logical_not(c)
        start = c.extent.start.offset
        if operand is None:
            return
        self.add(start, "not", [(start, operand.extent.start.offset, b"")],
                 f"`!` removed from `{self.short(self.text(c))}`")

    def condition(self, c):
        cond = self.condition_of(c)
        if cond is None:
            return
        inner = self.core(cond)
        start, end = cond.extent.start.offset, cond.extent.end.offset
        text = self.text(cond)
        if self.logical_not(inner) is not None:
            return  # removing the `!` (operator not) negates this condition
        parts = self.binary_op(inner)
        if parts and parts[1] in EQUALITY:
            return  # the equality operator is this condition's negation
        if inner.kind == K.PAREN_EXPR:
            edits = [(start, start, b"!")]
        else:
            edits = [(start, start, b"!("), (end, end, b")")]
        self.add(start, "negate", edits,
                 f"condition `{self.short(text)}` negated")

    def condition_of(self, c):
        children = list(c.get_children())
        if not children:
            return None
        if c.kind in (K.IF_STMT, K.WHILE_STMT):
            paren = self.src.find(b"(", c.extent.start.offset)
            after = [k for k in children if k.extent.start.offset > paren]
            if not after:
                return None
            cond = after[0]
            if (cond.kind in (K.VAR_DECL, K.DECL_STMT)
                    or self.src[paren + 1:cond.extent.start.offset].strip()
                    or self.next_char(cond.extent.end.offset) != b")"):
                return None
        elif c.kind == K.FOR_STMT:
            found = [k for k in children
                     if self.prev_char(k.extent.start.offset) == b";"
                     and self.next_char(k.extent.end.offset) == b";"]
            if len(found) != 1:
                return None
            cond = found[0]
        elif c.kind == K.DO_STMT:
            cond = children[-1]
            if (self.prev_char(cond.extent.start.offset) != b"("
                    or self.next_char(cond.extent.end.offset) != b")"):
                return None
        else:  # ?:
            cond = children[0]
            if self.next_char(cond.extent.end.offset) != b"?":
                return None
        return cond if self.mine(cond) else None

    def case(self, c):
        children = list(c.get_children())
        if not children or self.text(children[0]).strip() != b"EINTR":
            return
        start = c.extent.start.offset
        colon = self.src.index(b":", children[0].extent.end.offset) + 1
        line_start = self.src.rfind(b"\n", 0, start) + 1
        line_end = self.src.find(b"\n", colon)
        if (not self.src[line_start:start].strip()
                and not self.src[colon:line_end].strip()):
            edit = (line_start, line_end + 1, b"")
        else:
            edit = (start, colon, b"")
        self.add(start, "eintr", [edit],
                 "`case EINTR:` removed: EINTR is no longer retried")

    def literal(self, c, ancestors):
        text = self.text(c).decode(errors="replace")
        match = INTEGER.match(text)
        start, end = c.extent.start.offset, c.extent.end.offset
        if not match or any(a <= start < b for a, b in self.no_literals):
            return
        digits, suffix = match.group(1).replace("'", ""), match.group(2)
        if digits.lower().startswith("0x"):
            value, form = int(digits, 16), "0x{:x}"
        elif len(digits) > 1 and digits.startswith("0"):
            value, form = int(digits, 8), "0{:o}"
        else:
            value, form = int(digits), "{}"
        node, up = c, list(ancestors)
        while up and up[0].kind == K.UNEXPOSED_EXPR and self.mine(up[0]) \
                and up[0].extent == node.extent:
            node = up.pop(0)
        if (up and up[0].kind == K.UNARY_OPERATOR and self.mine(up[0])
                and self.text(up[0]).replace(b" ", b"")
                == b"-" + text.encode()):
            value, start = -value, up[0].extent.start.offset
            node = up.pop(0)
        while up and up[0].kind == K.UNEXPOSED_EXPR and self.mine(up[0]) \
                and up[0].extent == node.extent:
            node = up.pop(0)
        skip = self.redundant_with_boundary(node, up[0] if up else None)
        shown = self.src[start:end].decode(errors="replace")
        for op, new in (("plus1", value + 1), ("minus1", value - 1)):
            if op == skip:
                continue
            spelled = ("-" + form.format(-new) if new < 0
                       else form.format(new)) + suffix
            if form == "0{:o}" and new == 0:
                spelled = "0" + suffix
            self.add(start, op, [(start, end, spelled)],
                     f"`{shown}` becomes `{spelled}`")

    def redundant_with_boundary(self, node, parent):
        """On integers `x < 0` plus one is `x < 1`, which is the boundary
        mutant `x <= 0` again: the literal operator that repeats the
        boundary one (plus1 or minus1) is left out."""
        if parent is None or parent.kind != K.BINARY_OPERATOR:
            return None
        parts = self.binary_op(parent)
        if parts is None or parts[1] not in BOUNDARY:
            return None
        lhs, op, _, rhs = parts
        literal_right = rhs.extent == node.extent
        other = lhs if literal_right else rhs
        if other.type.get_canonical().kind not in INTEGRAL:
            return None
        if not literal_right:  # c < x is x > c
            op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}[op]
        return {"<": "plus1", ">=": "plus1", ">": "minus1",
                "<=": "minus1"}[op]

    def boolean(self, c):
        text = self.text(c)
        flipped = {b"true": b"false", b"false": b"true"}.get(text)
        if flipped:
            s = c.extent.start.offset
            self.add(s, "bool", [(s, c.extent.end.offset, flipped)],
                     f"`{text.decode()}` becomes `{flipped.decode()}`")

    def jump(self, c, parent):
        word = self.text(c)
        if word not in (b"break", b"continue"):
            return
        edits = self.statement_removal(c, parent)
        if edits:
            self.add(c.extent.start.offset, "jump", edits,
                     f"`{word.decode()};` removed")

    def call_statement(self, c, parent):
        call = self.core(c)
        if call.kind == K.CSTYLE_CAST_EXPR:
            inner = [k for k in call.get_children() if k.kind != K.TYPE_REF]
            call = self.core(inner[0]) if len(inner) == 1 else call
        if call.kind != K.CALL_EXPR or not self.mine(call):
            return
        if c.kind != K.CALL_EXPR and c.extent != call.extent and \
                c.kind != K.CSTYLE_CAST_EXPR:
            return
        edits = self.statement_removal(c, parent)
        if edits:
            self.add(c.extent.start.offset, "call", edits,
                     f"call `{self.short(self.text(c))}` removed")

    def retry_helper(self, c):
        """`RetryOnEintr([&] { return f(x); })` becomes `(f(x))`: this one
        call site no longer retries EINTR (the helper's own test is another
        mutant)."""
        if "eintr" not in c.spelling.lower():
            return
        args = list(c.get_arguments())
        if len(args) != 1:
            return
        lambdas = [k for k in args[0].walk_preorder()
                   if k.kind == K.LAMBDA_EXPR]
        if not lambdas:
            return
        body = [k for k in lambdas[0].get_children()
                if k.kind == K.COMPOUND_STMT]
        statements = list(body[0].get_children()) if body else []
        if len(statements) != 1 or statements[0].kind != K.RETURN_STMT:
            return
        value = list(statements[0].get_children())
        if len(value) != 1 or not self.mine(value[0]):
            return
        start, end = c.extent.start.offset, c.extent.end.offset
        inner = self.text(value[0])
        self.add(start, "eintr", [(start, end, b"(" + inner + b")")],
                 f"`{c.spelling}` unwrapped around "
                 f"`{self.short(inner, 40)}`: this call no longer retries "
                 f"EINTR")

    def call_arguments(self, c):
        self.retry_helper(c)
        # Operators and min/max: exchanging their operands changes nothing.
        if c.spelling.startswith("operator") or c.spelling in ("min", "max"):
            return
        args = [a for a in c.get_arguments()]
        for arg in args:
            inner = self.core(arg)
            text = self.text(inner).strip().decode(errors="replace")
            if self.mine(inner) and LONE_FLAG.match(text):
                s, e = inner.extent.start.offset, inner.extent.end.offset
                self.add(s, "flag", [(s, e, b"0")],
                         f"flag argument `{text}` becomes `0`")
        for a, b in zip(args, args[1:]):
            if not (self.mine(a) and self.mine(b)):
                continue
            a_start, a_end = a.extent.start.offset, a.extent.end.offset
            b_start, b_end = b.extent.start.offset, b.extent.end.offset
            if a_end > b_start or self.src[a_end:b_start].strip() != b",":
                continue
            text_a, text_b = self.text(a), self.text(b)
            if (self.type_of(a) != self.type_of(b) or text_a == text_b
                    or self.constant(a) or self.constant(b)):
                continue
            self.add(a_start, "swap",
                     [(a_start, a_end, text_b), (b_start, b_end, text_a)],
                     f"arguments `{self.short(text_a, 30)}` and "
                     f"`{self.short(text_b, 30)}` of "
                     f"{c.spelling or 'a call'}() exchanged")
