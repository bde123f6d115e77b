"""The ``filter`` of ``GET /api/scheduling/tasks``: a small part of RFC 7644 (SCIM) syntax.

Terms ``<field> eq "<value>"`` (``enabled eq true|false``), joined by ``and`` / ``or`` and
grouped with parentheses; fields and values compare case-insensitively. Anything else is a 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from simulator.calls import BadRequest

Row = Mapping[str, str]  # a task's filterable fields, each as a string
Test = Callable[[Row], bool]
FIELDS = {name.lower(): name for name in ("resourceId", "enabled", "ownerId", "spaceId", "name")}
TOKEN = re.compile(r'\s*(\(|\)|"(?:[^"\\]|\\.)*"|[^\s()"]+)')


def parse_filter(text: str) -> Test:
    """A test for one task's fields; BadRequest for what the simulator does not support."""
    tokens = _tokens(text)
    parser = _Parser(tokens)
    test = parser.disjunction()
    if parser.position != len(tokens):
        raise BadRequest(f"unexpected {tokens[parser.position]!r} in filter")
    return test


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while text[position:].strip():
        match = TOKEN.match(text, position)
        if match is None:
            raise BadRequest(f"filter cannot be read: {text!r}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent: ``or`` of ``and`` of terms or parenthesised filters."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.position = 0

    def disjunction(self) -> Test:
        tests = [self.conjunction()]
        while self._take("or"):
            tests.append(self.conjunction())
        return lambda row: any(test(row) for test in tests)

    def conjunction(self) -> Test:
        tests = [self.factor()]
        while self._take("and"):
            tests.append(self.factor())
        return lambda row: all(test(row) for test in tests)

    def factor(self) -> Test:
        if self._take("("):
            inner = self.disjunction()
            if not self._take(")"):
                raise BadRequest("a parenthesis in filter is not closed")
            return inner
        field, operator, value = self._next(), self._next(), self._next()
        if field.lower() not in FIELDS:
            raise BadRequest(f"filter supports {', '.join(FIELDS.values())}, not {field!r}")
        if operator.lower() != "eq":
            raise BadRequest(f"filter supports eq only, not {operator!r}")
        return _term(FIELDS[field.lower()], value)

    def _take(self, word: str) -> bool:
        here = self.tokens[self.position] if self.position < len(self.tokens) else ""
        if here.lower() == word:
            self.position += 1
            return True
        return False

    def _next(self) -> str:
        if self.position >= len(self.tokens):
            raise BadRequest("filter ends in the middle of a term")
        self.position += 1
        return self.tokens[self.position - 1]


def _term(field: str, value: str) -> Test:
    if field == "enabled":
        if value.lower() not in ("true", "false"):
            raise BadRequest(f"enabled compares with true or false, not {value}")
        wanted = value.lower()
    elif len(value) >= 2 and value[0] == value[-1] == '"':
        wanted = re.sub(r"\\(.)", r"\1", value[1:-1]).casefold()
    else:
        raise BadRequest(f"{field} compares with a quoted string, not {value}")
    return lambda row: row[field].casefold() == wanted
