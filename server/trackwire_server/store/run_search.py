"""Searching runs: the filter and order parsed, a plan chosen, the page read.

`RunSearch` is given what it needs (the store's context, for its tables, database and
rendered-statement cache; the experiments, to resolve names), and reads run data
through `rows.load_run_data`. The plan: when the filter's
top-level terms that an index answers match few runs, those runs drive the query;
otherwise the sort key's index is walked and the walk stops after a page.
"""

from __future__ import annotations

import functools
import time

import peewee

from trackwire_server.search.grammar import And, Comparison, Node, OrderKey
from trackwire_server.store.connecting import is_sqlite
from trackwire_server.store.context import StoreContext
from trackwire_server.store.experiments import Experiments
from trackwire_server.store.grants import Visibility
from trackwire_server.store.paging import PageToken, checked_page_size, view_condition
from trackwire_server.store.records import RunRecord
from trackwire_server.store.rows import load_run_data, run_columns
from trackwire_server.store.search_queries import (
    NUMBER_OPS,
    RUN_ATTRIBUTES,
    RUN_GRAMMAR,
    QueryBuilder,
    compare,
    parse_select,
)

# A filter term matching fewer runs than this drives the search, and so do two or more
# terms matching fewer than SELECTIVE_RUNS * PAIRED_FACTOR each (see _candidates).
SELECTIVE_RUNS = 500
PAIRED_FACTOR = 4
# How long a probe's count is reused by the same search (a page refreshed, a dashboard
# polling, the next page): the count only picks the plan, never the rows, so a stale one
# can cost speed but not correctness. Bounded to PROBE_CACHE_SIZE searches' terms.
PROBE_TTL_SECONDS = 10.0
PROBE_CACHE_SIZE = 4096

_UNCHECKED = object()


@functools.lru_cache(maxsize=256)
def _run_order(order_by: tuple[str, ...]) -> tuple[OrderKey, ...]:
    return tuple(RUN_GRAMMAR.parse_order_by(list(order_by)))


class RunSearchQuery:
    """One search of runs: its parsed filter and order, and the conditions built from
    them, on demand (only when one of its statements is rendered the first time)."""

    def __init__(self, tables, tree: Node | None, order_by, view_type: int):
        self.run = tables.Run
        self.tree = tree
        self.order_keys = _run_order(tuple(order_by))
        self.view_type = view_type
        self.builder = QueryBuilder(
            tables.Run,
            "run_id",
            {"metric": tables.LatestMetric, "param": tables.Param, "tag": tables.RunTag},
            RUN_ATTRIBUTES,
        )
        self.key: tuple = ()  # what determines its statements (set once ids are known)

    def base(self, ids: list[int]):
        """The conditions on the run's own columns: experiments and lifecycle stage."""
        return self.run.experiment_id.in_(ids) & view_condition(
            self.run.lifecycle_stage, self.view_type
        )

    def where(self, ids: list[int]):
        """The whole condition: base and filter."""
        base = self.base(ids)
        if self.tree is None:
            return base
        return base & self.builder.condition(self.tree, scope=self.scope(ids))

    @staticmethod
    def scope(ids: list[int]) -> dict:
        """Latest metrics carry their run's experiment (first in their value index): a
        metric condition on a run of these experiments reads only their index range."""
        return {"metric": lambda table: table.experiment_id.in_(ids)}


class RunSearch:
    """search_runs and its plans over one database's runs."""

    def __init__(self, ctx: StoreContext, experiments: Experiments):
        self.ctx = ctx
        self.db = ctx.db
        self.t = ctx.t
        self.experiments = experiments
        self._queries = ctx.queries
        self._checked_filters: dict[str, Node | None] = {}
        self._probe_counts: dict[tuple, tuple[int, float]] = {}

    def search_runs(
        self,
        experiment_ids: list[str],
        view_type: int = 0,
        page_size: int = 0,
        page_token: str = "",
        *,
        experiment_names: list[str] = (),
        filter: str = "",
        order_by: list[str] = (),
        select: list[str] = (),
        include_total_count: bool = False,
        visible: Visibility | None = None,
    ) -> tuple[list[RunRecord], str, int]:
        """Runs matching `filter` in the experiments, one page: (runs, next token, total or 0).

        The statements of a search are rendered once per (filter, order, experiments,
        view) and kept (see RenderedQueries): a repeated search only runs its SQL.
        """
        search = RunSearchQuery(self.t, self._checked_run_filter(filter), order_by, view_type)
        projection = parse_select(list(select))
        size = checked_page_size(page_size)
        R = self.t.Run

        def work():
            ids = self.experiments.ids(experiment_ids, experiment_names, visible)
            if not ids:  # only experiments the caller may not read
                return [], "", 0
            fingerprint = PageToken.fingerprint(
                "runs", sorted(ids), view_type, filter, list(order_by)
            )
            offset = PageToken.decode(page_token, fingerprint)
            search.key = ("search", filter, tuple(order_by), tuple(ids), view_type)
            total = 0
            if include_total_count:
                (total,) = self._queries.fetch(
                    (*search.key, "count"),
                    lambda: R.select(peewee.fn.COUNT(R.run_id)).where(search.where(ids)),
                )[0]
            rows = self._ordered_page(search, ids, offset, size + 1)
            records = [RunRecord(*row) for row in rows[:size]]
            load_run_data(self.ctx, records, projection)
            token = PageToken.encode(offset + size, fingerprint) if len(rows) > size else ""
            return records, token, total

        return self.ctx.read(work)

    def _checked_run_filter(self, filter: str) -> Node | None:
        """The parsed filter, checked once per distinct text: a bad filter fails here,
        before any query runs."""
        tree = self._checked_filters.get(filter, _UNCHECKED)
        if tree is _UNCHECKED:
            tree = RUN_GRAMMAR.parse_filter(filter)
            if tree is not None:
                RunSearchQuery(self.t, None, (), 0).builder.condition(tree)
            if len(self._checked_filters) >= 1024:
                self._checked_filters.clear()
            self._checked_filters[filter] = tree
        return tree

    def _candidates(
        self, search: RunSearchQuery, ids: list[int]
    ) -> tuple[list, Node | None] | None:
        """Splits the filter into (driving terms, rest) when a few runs can drive the
        search, else returns None.

        A top-level AND term that an index answers (a metric compared with a number, a
        param or tag equal to a string) is probed with a bounded count. If one term
        matches fewer than SELECTIVE_RUNS runs, or two or more each match fewer than
        SELECTIVE_RUNS * PAIRED_FACTOR (their intersection is smaller still), those
        terms' index ranges drive the query (the smallest first), and the rest of the
        filter is checked on the runs they leave. Otherwise the sort
        key's index is walked: with a filter that keeps a fair share of the runs that
        reads about a page's worth of them.
        """
        tree = search.tree
        terms = tree.terms if isinstance(tree, And) else (tree,) if tree is not None else ()
        cap = SELECTIVE_RUNS * PAIRED_FACTOR
        probed = []
        for i, term in enumerate(terms):
            if cap <= 0 or not self._indexed_term(term):
                continue

            def probe(term=term):
                matching = self._term_runs(term, ids).limit(cap)
                return matching.select_from(peewee.fn.COUNT(peewee.SQL("*")))

            count = self._probe_count((*search.key, "probe", i, cap), probe)
            if count < cap:
                probed.append((count, i))
        if not probed or (min(c for c, _ in probed) >= SELECTIVE_RUNS and len(probed) < 2):
            return None
        probed.sort()
        used = {i for _, i in probed}
        rest = [term for i, term in enumerate(terms) if i not in used]
        rest_tree = And(tuple(rest)) if len(rest) > 1 else rest[0] if rest else None
        return [terms[i] for _, i in probed], rest_tree

    def _probe_count(self, key: tuple, probe) -> int:
        """The probe's count, reused for PROBE_TTL_SECONDS (see PROBE_TTL_SECONDS)."""
        now = time.monotonic()
        cached = self._probe_counts.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        (count,) = self._queries.fetch(key, probe)[0]
        if len(self._probe_counts) >= PROBE_CACHE_SIZE:
            self._probe_counts.clear()
        self._probe_counts[key] = (count, now + PROBE_TTL_SECONDS)
        return count

    @staticmethod
    def _indexed_term(term) -> bool:
        """Whether one index range answers `term` (see _term_runs)."""
        if not isinstance(term, Comparison) or term.negated:
            return False
        kind = term.identifier.kind
        if kind == "metric":
            return term.op in NUMBER_OPS and isinstance(term.value, float)
        return kind in ("param", "tag") and term.op == "=" and isinstance(term.value, str)

    def _term_runs(self, term: Comparison, ids: list[int]):
        """The ids of the runs matching an indexed `term`, read from one index range."""
        kind, key = term.identifier.kind, term.identifier.key
        if kind == "metric":
            M = self.t.LatestMetric
            return M.select(M.run_id).where(
                M.experiment_id.in_(ids) & (M.key == key) & compare(M.value, term.op, term.value)
            )
        table = self.t.Param if kind == "param" else self.t.RunTag
        return table.select(table.run_id).where((table.key == key) & (table.value == term.value))

    def _ordered_page(self, search: RunSearchQuery, ids: list[int], offset: int, limit: int):
        """Rows [offset, offset + limit) of the runs matching the search, in its order.

        Sorting on a metric, param or tag runs as two queries: the runs that have the
        key, walked in the key's index order (a top-100 over 100,000 runs reads a few
        hundred rows), then, if the page is not full, the runs without it.
        """
        R = self.t.Run
        builder, order_keys, sqlite = search.builder, search.order_keys, is_sqlite(self.db)
        columns = run_columns(self.ctx)
        tie_breakers = [R.start_time.desc(), R.run_id]
        candidates = self._candidates(search, ids)
        page = (offset, limit)
        if candidates is not None:
            # Selective conditions: sort their few runs rather than walk an index.
            driving, rest = candidates

            def driven():
                driver, *others = [self._term_runs(term, ids) for term in driving]
                base = search.base(ids)
                if rest is not None:
                    base = base & builder.condition(rest, scope=search.scope(ids))
                query = builder.driven_by(
                    columns, driver, others, base, order_keys, tie_breakers, sqlite
                )
                return query.offset(offset).limit(limit)

            plan = tuple(map(repr, driving))
            return self._queries.fetch((*search.key, "driven", plan, *page), driven)
        if not builder.keyed_first(order_keys):
            return self._queries.fetch(
                (*search.key, "ordered", *page),
                lambda: (
                    builder.order(
                        R.select(*columns).where(search.where(ids)), order_keys, tie_breakers
                    )
                    .offset(offset)
                    .limit(limit)
                ),
            )

        def having():
            return builder.with_first_key(
                columns,
                search.base(ids),
                search.tree,
                order_keys,
                tie_breakers,
                sqlite,
                search.scope(ids),
            )

        rows = self._queries.fetch(
            (*search.key, "having", *page), lambda: having().offset(offset).limit(limit)
        )
        if len(rows) == limit:
            return rows
        # Past the runs with the key: skip as many of the others as the offset has left.
        skip = 0
        if not rows and offset:
            (having_count,) = self._queries.fetch(
                (*search.key, "having-count"),
                lambda: R.select(peewee.fn.COUNT(peewee.SQL("*"))).from_(
                    having().order_by().alias("having")
                ),
            )[0]
            skip = max(0, offset - having_count)
        return rows + self._queries.fetch(
            (*search.key, "lacking", skip, limit - len(rows)),
            lambda: (
                builder.without_first_key(columns, search.where(ids), order_keys, tie_breakers)
                .offset(skip)
                .limit(limit - len(rows))
            ),
        )
