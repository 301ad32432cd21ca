r"""Tokenizer and recursive-descent parser for search filters and order_by keys.

    filter      := or_expr
    or_expr     := and_expr (OR and_expr)*
    and_expr    := term (AND term)*
    term        := "(" or_expr ")" | identifier predicate
    predicate   := op value | IS [NOT] NULL | [NOT] IN "(" value ("," value)* ")"
                   | [NOT] LIKE string | [NOT] ILIKE string
    identifier  := kind "." key            e.g. metrics.accuracy, params.`model type`
    key         := bare-word | `quoted` | "quoted"
    value       := number | 'string' | "string"
    op          := "=" | "!=" | "<>" | "<" | "<=" | ">" | ">="

In quoted strings and keys, a doubled quote, or a backslash before the quote or
before another backslash, stands for that character; any other backslash is
kept, so in `LIKE '50\%%'` the pattern is `50\%%`: a literal percent, then anything.

Keywords are case-insensitive. Every error is an InvalidArgument that quotes
the offending token and its position (0-based character offset).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from trackwire_server.errors import InvalidArgument

# Token kinds.
WORD, IDENTIFIER, STRING, QUOTED_KEY, NUMBER, OP, LPAREN, RPAREN, COMMA, END = (
    "word",
    "identifier",
    "string",
    "quoted key",
    "number",
    "operator",
    "(",
    ")",
    ",",
    "end of filter",
)

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BARE_KEY = re.compile(r"[A-Za-z0-9_*][A-Za-z0-9_.\-:/*]*")
_OPERATORS = ("<=", ">=", "!=", "<>", "=", "<", ">")
KEYWORDS = {"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE", "ASC", "DESC"}


@dataclass(frozen=True)
class Token:
    kind: str
    text: str  # strings: the unquoted value; identifiers: the kind prefix as written
    pos: int
    raw: str  # the token as written
    key: str = ""  # identifiers: the key, unquoted

    @property
    def keyword(self) -> str | None:
        if self.kind == WORD and self.text.upper() in KEYWORDS:
            return self.text.upper()
        return None


def _error(token_or_pos, message: str, source: str) -> InvalidArgument:
    if isinstance(token_or_pos, Token):
        where = (
            f"at position {token_or_pos.pos}"
            if token_or_pos.kind != END
            else f"at the end (position {token_or_pos.pos})"
        )
        shown = f" '{token_or_pos.raw}'" if token_or_pos.kind != END else ""
        return InvalidArgument(f"{source}: {message}: token{shown} {where}")
    return InvalidArgument(f"{source}: {message} at position {token_or_pos}")


def _read_quoted(text: str, start: int, source: str) -> tuple[str, int]:
    """Reads a quoted run starting at text[start]; escapes as in the module docstring."""
    quote = text[start]
    out = []
    i = start + 1
    while i < len(text):
        c = text[i]
        if c == "\\" and text[i + 1 : i + 2] in (quote, "\\"):
            out.append(text[i + 1])
            i += 2
            continue
        if c == quote:
            if i + 1 < len(text) and text[i + 1] == quote:
                out.append(quote)
                i += 2
                continue
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise _error(start, f"unterminated {quote}...{quote} quote", source)


def tokenize(text: str, source: str = "filter") -> list[Token]:
    if "\0" in text:  # PostgreSQL can neither store nor compare it
        raise _error(text.index("\0"), "the NUL character is not allowed", source)
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        start = i
        if c in "'\"`":
            value, i = _read_quoted(text, i, source)
            kind = QUOTED_KEY if c == "`" else STRING
            tokens.append(Token(kind, value, start, text[start:i]))
            continue
        if c == "(":
            tokens.append(Token(LPAREN, c, start, c))
            i += 1
            continue
        if c == ")":
            tokens.append(Token(RPAREN, c, start, c))
            i += 1
            continue
        if c == ",":
            tokens.append(Token(COMMA, c, start, c))
            i += 1
            continue
        op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
        if op is not None:
            tokens.append(Token(OP, "!=" if op == "<>" else op, start, op))
            i += len(op)
            continue
        number = _NUMBER.match(text, i)
        if number and (c.isdigit() or c in "+-."):
            i = number.end()
            tokens.append(Token(NUMBER, number.group(), start, number.group()))
            continue
        word = _WORD.match(text, i)
        if word:
            i = word.end()
            # "kind." followed by a key: one identifier token (the key may be quoted).
            if i < n and text[i] == "." and word.group().upper() not in KEYWORDS:
                i += 1
                if i < n and text[i] in '`"':
                    key, i = _read_quoted(text, i, source)
                else:
                    bare = _BARE_KEY.match(text, i)
                    if not bare:
                        raise _error(i, f"expected a key after '{text[start:i]}'", source)
                    key, i = bare.group(), bare.end()
                tokens.append(Token(IDENTIFIER, word.group(), start, text[start:i], key))
                continue
            tokens.append(Token(WORD, word.group(), start, word.group()))
            continue
        raise _error(start, f"unexpected character '{c}'", source)
    tokens.append(Token(END, "", n, ""))
    return tokens


# -- syntax tree ------------------------------------------------------------------


@dataclass(frozen=True)
class Identifier:
    kind: str  # canonical: "metric", "param", "tag", "attribute" (or the caller's kinds)
    key: str
    raw: str
    pos: int
    source: str = "filter"  # what errors about it name: filter, order_by[0]...


@dataclass(frozen=True)
class Comparison:
    """`identifier op value`; op is one of = != < <= > >= LIKE ILIKE."""

    identifier: Identifier
    op: str
    value: object  # str or float
    negated: bool = False  # NOT LIKE / NOT ILIKE


@dataclass(frozen=True)
class IsNull:
    identifier: Identifier
    negated: bool  # IS NOT NULL


@dataclass(frozen=True)
class InList:
    identifier: Identifier
    values: tuple
    negated: bool  # NOT IN


@dataclass(frozen=True)
class And:
    terms: tuple


@dataclass(frozen=True)
class Or:
    terms: tuple


Node = Comparison | IsNull | InList | And | Or


@dataclass(frozen=True)
class OrderKey:
    identifier: Identifier
    ascending: bool


class _Parser:
    def __init__(self, text: str, grammar: Grammar, source: str):
        self.source = source
        self.grammar = grammar
        self.kinds = grammar.kinds
        self.tokens = tokenize(text, source)
        self.i = 0

    @property
    def token(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def fail(self, message: str, token: Token | None = None) -> InvalidArgument:
        return _error(token or self.token, message, self.source)

    def expect_keyword(self, word: str) -> None:
        if self.token.keyword != word:
            raise self.fail(f"expected {word}")
        self.advance()

    # filter ---------------------------------------------------------------------

    def parse_filter(self) -> Node | None:
        if self.token.kind == END:
            return None
        node = self.or_expr()
        if self.token.kind != END:
            raise self.fail("expected AND, OR or the end of the filter")
        return node

    def or_expr(self) -> Node:
        terms = [self.and_expr()]
        while self.token.keyword == "OR":
            self.advance()
            terms.append(self.and_expr())
        return terms[0] if len(terms) == 1 else Or(tuple(terms))

    def and_expr(self) -> Node:
        terms = [self.term()]
        while self.token.keyword == "AND":
            self.advance()
            terms.append(self.term())
        return terms[0] if len(terms) == 1 else And(tuple(terms))

    def term(self) -> Node:
        if self.token.kind == LPAREN:
            self.advance()
            node = self.or_expr()
            if self.token.kind != RPAREN:
                raise self.fail("expected ')'")
            self.advance()
            return node
        identifier = self.identifier()
        return self.predicate(identifier)

    def identifier(self) -> Identifier:
        token = self.token
        if token.kind == WORD and token.text.lower() in self.grammar.bare_attributes:
            self.advance()
            return Identifier(
                self.grammar.attribute_kind, token.text.lower(), token.raw, token.pos, self.source
            )
        if token.kind != IDENTIFIER:
            if token.kind == WORD and token.keyword is None:
                raise self.fail(
                    f"expected an identifier such as {self.examples()}; "
                    f"'{token.text}' has no kind prefix"
                )
            raise self.fail(f"expected an identifier such as {self.examples()}")
        kind = self.kinds.get(token.text.lower())
        if kind is None:
            raise self.fail(f"unknown identifier kind '{token.text}'; use {self.examples()}")
        if not token.key:
            raise self.fail("empty key")
        self.advance()
        return Identifier(kind, token.key, token.raw, token.pos, self.source)

    def examples(self) -> str:
        return self.grammar.examples

    def predicate(self, identifier: Identifier) -> Node:
        token = self.token
        if token.kind == OP:
            self.advance()
            return Comparison(identifier, token.text, self.value())
        keyword = token.keyword
        if keyword == "IS":
            self.advance()
            negated = self.token.keyword == "NOT"
            if negated:
                self.advance()
            self.expect_keyword("NULL")
            return IsNull(identifier, negated)
        negated = keyword == "NOT"
        if negated:
            self.advance()
            keyword = self.token.keyword
        if keyword in ("LIKE", "ILIKE"):
            self.advance()
            value_token = self.token
            value = self.value()
            if not isinstance(value, str):
                raise self.fail(f"{keyword} takes a quoted pattern", value_token)
            return Comparison(identifier, keyword, value, negated)
        if keyword == "IN":
            self.advance()
            if self.token.kind != LPAREN:
                raise self.fail("expected '(' after IN")
            self.advance()
            values = [self.value()]
            while self.token.kind == COMMA:
                self.advance()
                values.append(self.value())
            if self.token.kind != RPAREN:
                raise self.fail("expected ',' or ')' in the IN list")
            self.advance()
            return InList(identifier, tuple(values), negated)
        raise self.fail(
            "expected an operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL)"
        )

    def value(self) -> object:
        token = self.advance()
        if token.kind == STRING:
            return token.text
        if token.kind == NUMBER:
            number = float(token.text)
            if not math.isfinite(number):
                raise _error(token, "number out of range", self.source)
            return number
        raise _error(token, "expected a number or a quoted string", self.source)

    # order by -------------------------------------------------------------------

    def parse_order_key(self) -> OrderKey:
        identifier = self.identifier()
        ascending = True
        if self.token.keyword in ("ASC", "DESC"):
            ascending = self.advance().keyword == "ASC"
        if self.token.kind != END:
            raise self.fail("expected ASC, DESC or the end of the order_by key")
        return OrderKey(identifier, ascending)


@dataclass(frozen=True)
class Grammar:
    """What identifiers a search accepts.

    `kinds` maps each accepted prefix (lowercase, aliases included) to its
    canonical kind; `bare_attributes` are names usable without a prefix (as
    `attribute_kind`); `examples` is shown in errors.
    """

    kinds: dict[str, str]
    bare_attributes: frozenset[str] = frozenset()
    attribute_kind: str = "attribute"
    examples: str = ""

    def parse_filter(self, text: str, source: str = "filter") -> Node | None:
        return _Parser(text, self, source).parse_filter()

    def parse_order_by(self, keys: list[str]) -> list[OrderKey]:
        return [
            _Parser(key, self, f"order_by[{i}]").parse_order_key() for i, key in enumerate(keys)
        ]

    def parse_identifier(self, text: str, source: str) -> Identifier:
        parser = _Parser(text, self, source)
        identifier = parser.identifier()
        if parser.token.kind != END:
            raise parser.fail("expected the end of the name")
        return identifier
