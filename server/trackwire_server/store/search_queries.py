"""Search filters and sort keys as Peewee queries: the parsed tree in, SQL out.

User values only ever reach the database as bound parameters. Each condition on
params, tags or metrics is a `run_id IN (subquery)` on an indexed table, so
AND, OR and parentheses compose freely and no metric history is read.

LIKE is case-sensitive everywhere (SQLite runs with case_sensitive_like, MySQL
tables use a binary collation); ILIKE lowers both sides, in the database. In
patterns `%` and `_` are wildcards and a backslash makes the next character
literal (a lone backslash at the end matches itself).

Values are bound as given, never converted to the column's type: `start_time <
1001.5` must not become `start_time < 1001`. What a field accepts is the same for every
resource: ids as a number or a quoted decimal (`experiment_id = 5`, `= '5'`), times as
milliseconds since the Unix epoch or a quoted RFC 3339 time with its offset, enums by
their short name or their proto name in any case (`status = 'RUNNING'`,
`= 'RUN_STATUS_RUNNING'`). Time fields are named as in the resources' messages
(`create_time`, `update_time`, `start_time`, `end_time`); the older names stay aliases.
"""

from __future__ import annotations

import datetime
import functools
import itertools
import operator
from collections.abc import Callable
from dataclasses import dataclass

import peewee
from peewee import SQL, NodeList, Value, fn

from trackwire_server.errors import InvalidArgument
from trackwire_server.search.grammar import (
    And,
    Grammar,
    Identifier,
    InList,
    IsNull,
    Node,
    Or,
    OrderKey,
)
from trackwire_server.store.constants import (
    FAILED,
    FINISHED,
    KILLED,
    RUNNING,
    SCHEDULED,
)

RUN_GRAMMAR = Grammar(
    kinds={
        "metrics": "metric",
        "metric": "metric",
        "params": "param",
        "param": "param",
        "tags": "tag",
        "tag": "tag",
        "attributes": "attribute",
        "attribute": "attribute",
        "run": "attribute",
    },
    bare_attributes=frozenset(
        {"run_id", "run_name", "status", "user_id", "start_time", "end_time", "artifact_uri"}
    ),
    examples="metrics.<key>, params.<key>, tags.<key> or attributes.<name>",
)

TAGGED_KINDS = {"tags": "tag", "tag": "tag", "attributes": "attribute", "attribute": "attribute"}
STATUS_NUMBERS = {
    "RUNNING": RUNNING,
    "SCHEDULED": SCHEDULED,
    "FINISHED": FINISHED,
    "FAILED": FAILED,
    "KILLED": KILLED,
}

NUMBER_OPS = {"=", "!=", "<", "<=", ">", ">="}
STRING_OPS = {"=", "!=", "LIKE", "ILIKE"}


def _fail(identifier: Identifier, message: str) -> InvalidArgument:
    return InvalidArgument(
        f"{identifier.source}: {message}: token '{identifier.raw}' at position {identifier.pos}"
    )


def like(column, pattern: str, case_sensitive: bool):
    """`column LIKE pattern ESCAPE '\\'`, the same on every database."""
    if (len(pattern) - len(pattern.rstrip("\\"))) % 2:
        pattern += "\\"  # PostgreSQL refuses a pattern that ends with the escape character
    pattern = Value(pattern, converter=False)
    if not case_sensitive:
        # Both sides by the same LOWER: SQLite's folds ASCII only, Python's everything.
        column, pattern = fn.LOWER(column), fn.LOWER(pattern)
    return NodeList((column, SQL("LIKE"), pattern, SQL("ESCAPE"), Value("\\", converter=False)))


def compare(column, op: str, value):
    if op in ("LIKE", "ILIKE"):
        return like(column, value, op == "LIKE")
    value = Value(value, converter=False)
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    raise AssertionError(op)


@dataclass(frozen=True)
class Attribute:
    """A column that can be filtered and sorted: its value type and whether IN applies."""

    column: str
    numeric: bool = False
    allows_in: bool = False
    convert: Callable[[object, Identifier], object] | None = None  # the value as bound
    allows_like: bool = True  # for a string with `convert`: LIKE matches the stored text


def _number(value: float):
    """A filter's number as bound: an integer when it is one, else as written."""
    return int(value) if value.is_integer() and abs(value) < 2**63 else value


def enum_value(names: dict[str, object], prefix: str):
    """A converter for an enum-valued field: its short name (`RUNNING`) or its proto
    name (`RUN_STATUS_RUNNING`), in any case, to the stored value."""

    def convert(value, identifier: Identifier):
        if isinstance(value, str):
            name = value.upper()
            name = name[len(prefix) :] if name.startswith(prefix) else name
            if name in names:
                return names[name]
        raise _fail(
            identifier,
            f"{identifier.key} {value!r} is not one of {', '.join(names)} "
            f"(or {prefix}<name>, in any case)",
        )

    return convert


def id_number(value, identifier: Identifier):
    """An id: a number, or a quoted decimal integer (ids are strings in messages)."""
    if isinstance(value, float):
        return _number(value)
    if value.isascii() and value.isdigit() and int(value) < 2**63:
        return int(value)
    raise _fail(
        identifier, f"'{identifier.key}' is a decimal integer, quoted or not; {value!r} is not"
    )


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def time_ms(value, identifier: Identifier):
    """A time: milliseconds since the Unix epoch, or a quoted RFC 3339 time with its
    offset ('2024-05-01T12:00:00Z', '2024-05-01T14:00:00.250+02:00')."""
    if isinstance(value, float):
        return _number(value)
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or "T" not in value.upper():
        raise _fail(
            identifier,
            f"'{identifier.key}' is a number (milliseconds since the Unix epoch) or a quoted "
            f"RFC 3339 time with its offset such as '2024-05-01T12:00:00Z'; {value!r} is neither",
        )
    micros = (parsed - _EPOCH) // datetime.timedelta(microseconds=1)
    return micros // 1000 if micros % 1000 == 0 else micros / 1000


_status_number = enum_value(STATUS_NUMBERS, "RUN_STATUS_")

RUN_ATTRIBUTES = {
    "run_id": Attribute("run_id", allows_in=True),
    "run_name": Attribute("name", allows_in=True),
    "status": Attribute("status", allows_in=True, convert=_status_number, allows_like=False),
    "user_id": Attribute("user_id"),
    "artifact_uri": Attribute("artifact_uri"),
    "start_time": Attribute("start_time", numeric=True, convert=time_ms),
    "end_time": Attribute("end_time", numeric=True, convert=time_ms),
}


def resource_times(created_alias: str, updated_alias: str) -> dict[str, Attribute]:
    """The filter attributes of a resource's creation and last update times:
    `create_time` and `update_time`, as the messages name them, and the older names given
    (MLflow's), over the columns creation_time and last_update_time."""
    created = Attribute("creation_time", numeric=True, convert=time_ms)
    updated = Attribute("last_update_time", numeric=True, convert=time_ms)
    return {
        "create_time": created,
        "update_time": updated,
        created_alias: created,
        updated_alias: updated,
    }


EXPERIMENT_ATTRIBUTES = {
    "name": Attribute("name", allows_in=True),
    "experiment_id": Attribute("experiment_id", numeric=True, convert=id_number),
    **resource_times("creation_time", "last_update_time"),
}
EXPERIMENT_GRAMMAR = Grammar(
    kinds=TAGGED_KINDS,
    bare_attributes=frozenset(EXPERIMENT_ATTRIBUTES),
    examples="name, experiment_id, create_time, update_time or tags.<key>",
)


class QueryBuilder:
    """Turns filter trees and sort keys into conditions on `owner` (runs or experiments).

    `keyed` maps a kind (metric, param, tag) to its (table, owner-id column name)
    of key/value rows; `attributes` are the owner's own columns.
    """

    def __init__(
        self, owner, owner_id: str, keyed: dict[str, object], attributes: dict[str, Attribute]
    ):
        self.owner = owner
        self.owner_id = getattr(owner, owner_id)
        self.id_name = owner_id
        self.keyed = keyed
        self.attributes = attributes
        self._aliases = itertools.count()

    # -- filters ----------------------------------------------------------------

    def condition(self, node: Node, correlate=None, scope: dict | None = None):
        """The filter as a condition. Conditions on metrics, params and tags are EXISTS
        subqueries correlated on `correlate` (default: the owner's id column). `scope`
        maps a kind to a function giving an extra condition on its table that holds for
        every row of the owners searched (the experiments, where the table has them in
        its index): it lets the database read one index range instead of every row of
        the key."""
        self._correlate = correlate if correlate is not None else self.owner_id
        self._scope = scope or {}
        return self._condition(node)

    def _condition(self, node: Node):
        if isinstance(node, And):
            return functools.reduce(operator.and_, [self._condition(t) for t in node.terms])
        if isinstance(node, Or):
            return functools.reduce(operator.or_, [self._condition(t) for t in node.terms])
        identifier = node.identifier
        if identifier.kind == "attribute":
            return self._attribute_condition(node)
        return self._keyed_condition(node)

    def _attribute(self, identifier: Identifier) -> Attribute:
        attribute = self.attributes.get(identifier.key.lower())
        if attribute is None:
            raise _fail(
                identifier,
                f"unknown attribute '{identifier.key}'; use one of {', '.join(self.attributes)}",
            )
        return attribute

    def _attribute_condition(self, node: Node):
        identifier = node.identifier
        attribute = self._attribute(identifier)
        column = getattr(self.owner, attribute.column)
        if isinstance(node, IsNull):
            return column.is_null(not node.negated)
        if isinstance(node, InList):
            if not attribute.allows_in:
                raise _fail(identifier, f"IN is not allowed for '{identifier.key}'")
            values = [self._attribute_value(attribute, v, identifier) for v in node.values]
            return column.not_in(values) if node.negated else column.in_(values)
        allowed = NUMBER_OPS if attribute.numeric else STRING_OPS
        like = node.op in ("LIKE", "ILIKE")
        if node.op not in allowed or (like and attribute.convert and not attribute.allows_like):
            raise _fail(identifier, f"operator {node.op} is not allowed for '{identifier.key}'")
        # A LIKE pattern matches the stored text; other values are converted.
        value = node.value if like else self._attribute_value(attribute, node.value, identifier)
        condition = compare(column, node.op, value)
        return ~condition if node.negated else condition

    def _attribute_value(self, attribute: Attribute, value, identifier: Identifier):
        if attribute.convert is not None:
            return attribute.convert(value, identifier)
        if attribute.numeric and not isinstance(value, float):
            raise _fail(identifier, f"'{identifier.key}' is a number; {value!r} is a string")
        if not attribute.numeric and not isinstance(value, str):
            raise _fail(identifier, f"'{identifier.key}' is a string: quote {value:g}")
        if attribute.numeric and value.is_integer() and abs(value) < 2**63:
            return int(value)
        return value

    def _keyed_condition(self, node: Node):
        """EXISTS (a row of this key for this run that matches): correlated, so a query
        that walks runs in index order can stop as soon as it has a page."""
        identifier = node.identifier
        table = self.keyed[identifier.kind].alias(f"f{next(self._aliases)}")
        of_run = (getattr(table, self.id_name) == self._correlate) & (table.key == identifier.key)
        if identifier.kind in self._scope:
            of_run = self._scope[identifier.kind](table) & of_run
        if isinstance(node, IsNull):
            present = self._exists(table, of_run)
            return ~present if not node.negated else present
        numeric = identifier.kind == "metric"
        if isinstance(node, InList):
            if numeric:
                raise _fail(identifier, "IN is for run_id, status, run_name, params and tags")
            values = list(node.values)
            for v in values:
                if not isinstance(v, str):
                    raise _fail(identifier, f"{identifier.kind} values are strings: quote {v:g}")
            match = table.value.not_in(values) if node.negated else table.value.in_(values)
        else:
            if numeric:
                if node.op not in NUMBER_OPS:
                    raise _fail(identifier, f"operator {node.op} is not allowed for metrics")
                if not isinstance(node.value, float):
                    raise _fail(identifier, f"metrics are numbers; {node.value!r} is a string")
            else:
                if node.op not in STRING_OPS:
                    raise _fail(
                        identifier,
                        f"operator {node.op} is not allowed for {identifier.kind}s (strings)",
                    )
                if not isinstance(node.value, str):
                    raise _fail(
                        identifier, f"{identifier.kind} values are strings: quote {node.value:g}"
                    )
            match = compare(table.value, node.op, node.value)
            if node.negated:
                match = ~match
        return self._exists(table, of_run & match)

    @staticmethod
    def _exists(table, condition):
        return fn.EXISTS(table.select(SQL("1")).where(condition))

    # -- sorting ----------------------------------------------------------------------

    def keyed_first(self, keys: list[OrderKey]) -> bool:
        """Whether the first sort key is a metric, param or tag (see `ordered_pages`)."""
        return bool(keys) and keys[0].identifier.kind != "attribute"

    def order(self, query, keys: list[OrderKey], tie_breakers: list, first: tuple = ()):
        """Adds joins and ORDER BY for `keys` (after the terms `first`); missing values sort
        last either way."""
        ordering = list(first)
        for i, key in enumerate(keys):
            identifier = key.identifier
            if identifier.kind == "attribute":
                column = getattr(self.owner, self._attribute(identifier).column)
            else:
                table = self.keyed[identifier.kind].alias(f"o{i}")
                query = query.join(
                    table,
                    peewee.JOIN.LEFT_OUTER,
                    on=(getattr(table, self.id_name) == self.owner_id)
                    & (table.key == identifier.key),
                ).switch(self.owner)
                column = table.value
            ordering.append(column.is_null())
            ordering.append(column.asc() if key.ascending else column.desc())
        return query.order_by(*ordering, *tie_breakers)

    def with_first_key(
        self,
        columns,
        where,
        tree: Node | None,
        keys: list[OrderKey],
        tie_breakers: list,
        force_order: bool,
        scope: dict | None = None,
    ):
        """Owners that have the first sort key (a metric, param or tag), walked in that
        key's (key, value) index order, so LIMIT stops the walk early.

        `where` holds the conditions on the owner's columns; the filter `tree` is
        correlated on the walked table's owner id, so it is checked on the index entry
        before the owner's row is read.
        `force_order` (SQLite) joins with CROSS JOIN, which SQLite never reorders.
        `scope` maps a kind to a function giving an extra condition on its table (the
        experiments, where the table has them in its index).
        """
        first = keys[0].identifier
        table = self.keyed[first.kind].alias("o_first")
        has_key = (table.key == first.key) & table.value.is_null(False)
        if scope and first.kind in scope:
            has_key = scope[first.kind](table) & has_key
        joined = getattr(table, self.id_name) == self.owner_id
        if tree is not None:
            where = where & self.condition(tree, getattr(table, self.id_name), scope)
        if force_order:
            query = table.select(*columns).join(self.owner, peewee.JOIN.CROSS)
            condition = joined & has_key & where
        else:
            query = table.select(*columns).join(self.owner, peewee.JOIN.INNER, on=joined)
            condition = has_key & where
        first_order = table.value.asc() if keys[0].ascending else table.value.desc()
        return self.order(query.where(condition), keys[1:], tie_breakers, (first_order,))

    def driven_by(
        self,
        columns,
        driver,
        others: list,
        where,
        keys: list[OrderKey],
        tie_breakers: list,
        force_order: bool,
    ):
        """Owners whose ids the subquery `driver` yields that are also in every subquery
        of `others`, read by id and sorted: for a filter whose terms an index answers
        with few owners, cheaper than walking the sort key's index.

        `force_order` (SQLite) joins with CROSS JOIN, which SQLite never reorders:
        otherwise it may prefer scanning the owners by another index.
        """
        source = driver.alias("driver")
        driver_id = getattr(source.c, self.id_name)
        joined = self.owner_id == driver_id
        for other in others:  # on the driver's id: checked before the owner's row is read
            where = driver_id.in_(other) & where
        query = self.owner.select(*columns).from_(source)
        if force_order:
            query = query.join(self.owner, peewee.JOIN.CROSS).where(joined & where)
        else:
            query = query.join(self.owner, peewee.JOIN.INNER, on=joined).where(where)
        return self.order(query, keys, tie_breakers)

    def without_first_key(self, columns, where, keys: list[OrderKey], tie_breakers: list):
        """Owners that lack the first sort key (or hold NaN there): they sort last."""
        first = keys[0].identifier
        table = self.keyed[first.kind].alias("o_first")
        has_key = (
            (getattr(table, self.id_name) == self.owner_id)
            & (table.key == first.key)
            & table.value.is_null(False)
        )
        query = self.owner.select(*columns).where(where & ~self._exists(table, has_key))
        return self.order(query, keys[1:], tie_breakers)


def parse_select(entries: list[str]) -> dict[str, set[str] | None] | None:
    """`select` entries as {kind: keys or None for all}; None when empty (everything)."""
    if not entries:
        return None
    wanted: dict[str, set[str] | None] = {}
    for i, entry in enumerate(entries):
        identifier = RUN_GRAMMAR.parse_identifier(entry, f"select[{i}]")
        if identifier.kind == "attribute":
            raise InvalidArgument(
                f"select[{i}]: '{entry}' names an attribute; attributes are always returned"
            )
        if identifier.key == "*":
            wanted[identifier.kind] = None
        elif wanted.get(identifier.kind, set()) is not None:
            wanted.setdefault(identifier.kind, set()).add(identifier.key)
    return wanted
