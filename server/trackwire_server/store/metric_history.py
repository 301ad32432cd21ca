"""Metric history: points stored in chunks per (run, key), the latest value of each key
moved forward as they arrive, streamed batches applied once and in order, and histories
read back (whole, in ranges, downsampled)."""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np
import peewee

from trackwire_server.errors import InvalidArgument, NotFound, SequenceGap
from trackwire_server.limits import LIMITS
from trackwire_server.store import metric_codec, statistics
from trackwire_server.store.context import StoreContext, Written
from trackwire_server.store.feed_announcements import ChunkSlices
from trackwire_server.store.inserts import bulk_insert, insert_pages, insert_sql, upsert_latest
from trackwire_server.store.metric_points import (
    MERGE_BATCHES_BELOW,
    MERGE_BELOW_POINTS,
    chunk_fields,
    downsample,
    latest_point,
    latest_row,
)
from trackwire_server.store.records import MetricPointColumns
from trackwire_server.store.rows import run_row, writable_run
from trackwire_server.store.unit_of_work import RetryTransaction, for_update
from trackwire_server.store.validation import check_length, check_lookup_key, check_run_id
from trackwire_server.store.writes import Columns, columns_series, now_ms
from trackwire_server.store.writes import slices as slices_of


class MetricHistory:
    """The metric points of one database's runs."""

    def __init__(self, ctx: StoreContext):
        self.ctx = ctx
        self.db = ctx.db
        self.t = ctx.t

    # -- writing -----------------------------------------------------------------

    def append(self, run, series: dict[str, Columns]) -> list[tuple[int, int, int]]:
        """Stores points per key of `run` (its row, locked, inside the caller's unit of
        work) and moves latest_metrics forward. Returns where the points went, as
        (chunk_id, offset, count) slices, when other servers may read them (not on
        SQLite: [])."""
        run_id = run.run_id
        slices = self._store_chunks(run_id, series)
        latest = [
            latest_row(run.experiment_id, run_id, key, latest_point(*columns))
            for key, columns in series.items()
        ]
        upsert_latest(self.t.LatestMetric, latest)
        return slices

    def _store_chunks(self, run_id: str, series: dict[str, Columns]) -> list[tuple[int, int, int]]:
        """One chunk per key; a key's few points are appended to its last chunk while that
        is small too (see MERGE_BATCHES_BELOW). Returns the slices written (see
        `append`)."""
        C = self.t.MetricChunk
        param = peewee.SQL(self.db.param)
        queries = self.ctx.queries
        small = [k for k, cols in series.items() if len(cols[0]) < MERGE_BATCHES_BELOW]
        tails = {}

        def tails_query(n):
            last = (
                C.select(peewee.fn.MAX(C.chunk_id))
                .where((C.run_id == param) & C.key.in_(peewee.SQL(self.ctx.placeholders(n))))
                .group_by(C.key)
            )
            return C.select(C.chunk_id, C.key, C.data).where(
                C.chunk_id.in_(last) & (C.point_count < param)
            )

        for keys in slices_of(small, 500):
            sql = queries.sql(("chunk_tails", len(keys)), functools.partial(tails_query, len(keys)))
            rows = self.db.execute_sql(sql, (run_id, *keys, MERGE_BELOW_POINTS)).fetchall()
            tails.update((key, (chunk_id, data)) for chunk_id, key, data in rows)
        inserts = []
        slices: dict[str, tuple[int, int, int]] = {}  # by key
        for key, columns in series.items():
            if key in tails:
                chunk_id, data = tails[key]
                old = metric_codec.decode(bytes(data))
                slices[key] = (chunk_id, len(old[0]), len(columns[0]))
                columns = tuple(np.concatenate((a, b)) for a, b in zip(old, columns, strict=True))
            fields = chunk_fields(*columns)
            if key in tails:
                sql = queries.sql(
                    ("chunk_update",),
                    lambda: C.update(
                        {C.min_step: param, C.max_step: param, C.point_count: param, C.data: param}
                    ).where(C.chunk_id == param),
                )
                self.db.execute_sql(
                    sql,
                    (
                        fields["min_step"],
                        fields["max_step"],
                        fields["point_count"],
                        fields["data"],
                        chunk_id,
                    ),
                )
            else:
                inserts.append({"run_id": run_id, "key": key, **fields})
        if not self.ctx.feed.enabled:
            bulk_insert(C, inserts)
            return []
        # The feed across servers needs the new chunks' ids.
        counts = {row["key"]: row["point_count"] for row in inserts}
        if self.ctx.feed.kind == "postgresql":
            returned = (
                insert_pages(
                    self.db,
                    insert_sql(C, tuple(inserts[0])),
                    [tuple(row.values()) for row in inserts],
                    returning='"chunk_id", "key"',
                )
                if inserts
                else []
            )
            slices.update((key, (chunk_id, 0, counts[key])) for chunk_id, key in returned)
            statistics.wrote(C, len(inserts))
            return [slices[key] for key in series if key in slices]
        if len(inserts) == 1:
            # One new chunk (a writer of one key, the common case): the driver has its id.
            row = inserts[0]
            cursor = self.db.execute_sql(insert_sql(C, tuple(row)), tuple(row.values()))
            slices[row["key"]] = (cursor.lastrowid, 0, row["point_count"])
            return [slices[key] for key in series if key in slices]
        bulk_insert(C, inserts)

        # MySQL returns no ids for a multi-row insert; the run's row lock is held, so the
        # highest chunk id of each of these keys is the one just inserted.
        def new_ids_query(n):
            return (
                C.select(C.key, peewee.fn.MAX(C.chunk_id))
                .where((C.run_id == param) & C.key.in_(peewee.SQL(self.ctx.placeholders(n))))
                .group_by(C.key)
            )

        for part in slices_of(list(counts), 500):
            sql = queries.sql(
                ("new_chunk_ids", len(part)), functools.partial(new_ids_query, len(part))
            )
            rows = self.db.execute_sql(sql, (run_id, *part)).fetchall()
            slices.update((key, (chunk_id, 0, counts[key])) for key, chunk_id in rows)
        return [slices[key] for key in series if key in slices]

    def write_points(
        self, writer_id: str, sequence_number: int, run_id: str, points: MetricPointColumns
    ) -> tuple[bool, int]:
        """Stores a streamed batch of one run's points once per (writer_id,
        sequence_number), in the writer's order: the batch must be the writer's next (its
        last committed number + 1; 1 for a new writer). Returns (duplicate, the number
        expected next): duplicate is True for a batch at or below the last committed one (a
        resend), which is not stored again. A batch beyond the next number is refused
        (SequenceGap). All or nothing: a refused batch writes nothing.
        """
        if not writer_id:
            raise InvalidArgument("writer_id must not be empty")
        check_length("writer_id", writer_id, 64)
        if sequence_number <= 0:
            raise InvalidArgument("sequence_number must be positive")
        check_run_id("run_id", run_id)
        series = columns_series(points, "points.")

        def work():
            W = self.t.WriterProgress
            progress = for_update(self.db, W.select().where(W.writer_id == writer_id)).first()
            last = progress.sequence_number if progress is not None else 0
            if sequence_number <= last:
                return True, last + 1
            if sequence_number != last + 1:
                raise SequenceGap(
                    f"sequence_number {sequence_number} of writer {writer_id} skips "
                    f"{last + 1}: the next batch must have number {last + 1}",
                    expected=last + 1,
                )
            written = Written({run_id: series})
            slices = self.append(writable_run(self.ctx, run_id, "run_id"), series)
            if slices:
                written.slices[run_id] = slices
            ts = now_ms()
            if progress is None:
                try:
                    W.insert(
                        writer_id=writer_id, sequence_number=sequence_number, update_time=ts
                    ).execute()
                except peewee.IntegrityError:  # the same writer's first batch, concurrently
                    raise RetryTransaction(f"writer {writer_id} started concurrently") from None
            else:
                W.update(sequence_number=sequence_number, update_time=ts).where(
                    W.writer_id == writer_id
                ).execute()
            self.ctx.announce(written)
            return False, sequence_number + 1

        return self.ctx.write(work)

    def next_sequence_number(self, writer_id: str) -> int:
        """The number the writer's next batch must have (1 for a writer not seen)."""
        W = self.t.WriterProgress

        def work():
            return W.select(W.sequence_number).where(W.writer_id == writer_id).scalar() or 0

        return self.ctx.read(work) + 1

    # -- reading -----------------------------------------------------------------

    def read_metric_history(
        self, run_id: str, key: str, start_step: int | None = None, end_step: int | None = None
    ) -> Columns:
        """(steps, timestamps, values) of one metric, ordered by step then timestamp."""
        check_lookup_key("metric_key", key)

        def work():
            run_row(self.ctx, run_id)
            return self._history(run_id, key, start_step, end_step)

        return self.ctx.read(work)

    def read_metric_histories(
        self,
        run_ids: list[str],
        key: str,
        start_step: int | None = None,
        end_step: int | None = None,
        max_points: int = 0,
    ) -> list[tuple[str, int, Columns]]:
        """[(run_id, points in range, (steps, timestamps, values))] per run, in request order;
        downsampled to about `max_points` each when it is set."""
        check_lookup_key("metric_key", key)
        if not run_ids:
            raise InvalidArgument("run_ids must name at least one run")
        if len(run_ids) > LIMITS.max_batch_history_runs:
            raise InvalidArgument(
                f"run_ids has {len(run_ids)} entries; the limit is {LIMITS.max_batch_history_runs}"
            )
        for i, run_id in enumerate(run_ids):
            check_run_id(f"run_ids[{i}]", run_id)
        repeated = next((r for i, r in enumerate(run_ids) if r in run_ids[:i]), None)
        if repeated is not None:
            raise InvalidArgument(f"run_ids: run {repeated} appears twice")
        if max_points and max_points < 4:
            raise InvalidArgument(f"max_points must be 0 or at least 4, not {max_points}")
        R = self.t.Run

        def work():
            result = []
            known = set()
            for chunk in peewee.chunked(list(set(run_ids)), 500):
                known.update(r for (r,) in R.select(R.run_id).where(R.run_id.in_(chunk)).tuples())
            missing = [r for r in run_ids if r not in known]
            if missing:
                raise NotFound(f"run_ids: run {missing[0]} does not exist")
            for run_id in run_ids:
                columns = self._history(run_id, key, start_step, end_step)
                total = len(columns[0])
                if max_points and total > max_points:
                    columns = downsample(*columns, max_points)
                result.append((run_id, total, columns))
            return result

        return self.ctx.read(work)

    def _history(self, run_id, key, start_step, end_step) -> Columns:
        C = self.t.MetricChunk
        condition = (C.run_id == run_id) & (C.key == key)
        if start_step is not None:
            condition &= C.max_step >= start_step
        if end_step is not None:
            condition &= C.min_step <= end_step
        query = C.select(C.data).where(condition).order_by(C.chunk_id)
        blobs = [bytes(d) for (d,) in query.tuples()]
        if not blobs:
            empty = np.empty(0, np.int64)
            return empty, empty, np.empty(0, np.float64)
        parts = [metric_codec.decode(b) for b in blobs]
        steps = np.concatenate([p[0] for p in parts])
        timestamps = np.concatenate([p[1] for p in parts])
        values = np.concatenate([p[2] for p in parts])
        if start_step is not None or end_step is not None:
            keep = np.ones(len(steps), dtype=bool)
            if start_step is not None:
                keep &= steps >= start_step
            if end_step is not None:
                keep &= steps <= end_step
            steps, timestamps, values = steps[keep], timestamps[keep], values[keep]
        step_diff = np.diff(steps)
        in_order = np.all((step_diff > 0) | ((step_diff == 0) & (np.diff(timestamps) >= 0)))
        if not in_order:
            order = np.lexsort((timestamps, steps))
            steps, timestamps, values = steps[order], timestamps[order], values[order]
        return steps, timestamps, values

    def read_slices(self, announced: list[ChunkSlices]) -> list[Written]:
        """The points of announced chunk slices (`feed_announcements`), one `Written`
        per announcement, in order: {run_id: {key: (steps, timestamps, values)}}. A slice
        whose chunk is gone (its run was purged) is left out. One query for all."""
        C = self.t.MetricChunk
        wanted = sorted(
            {ref[0] for slices in announced for refs in slices.values() for ref in refs}
        )

        def work():
            found = {}
            for part in slices_of(wanted, 500):
                query = C.select(C.chunk_id, C.run_id, C.key, C.data).where(C.chunk_id.in_(part))
                found.update((row[0], row[1:]) for row in query.tuples())
            return found

        rows = self.ctx.read(work) if wanted else {}
        decoded: dict[int, tuple[str, str, Columns]] = {}
        result = []
        for slices in announced:
            written = Written()
            for run_id, refs in slices.items():
                for chunk_id, offset, count in refs:
                    if chunk_id not in decoded:
                        if chunk_id not in rows:
                            continue
                        chunk_run, key, data = rows[chunk_id]
                        decoded[chunk_id] = (chunk_run, key, metric_codec.decode(bytes(data)))
                    chunk_run, key, columns = decoded[chunk_id]
                    if chunk_run != run_id or offset + count > len(columns[0]):
                        continue  # not what was announced: the chunk was replaced
                    points = tuple(c[offset : offset + count] for c in columns)
                    written.setdefault(run_id, {})[key] = points
            if written:
                result.append(written)
        return result

    def iter_metric_history(
        self, run_id: str, key: str, start_step: int | None, end_step: int | None, chunk_size: int
    ) -> Iterator[Columns]:
        steps, timestamps, values = self.read_metric_history(run_id, key, start_step, end_step)
        for lo in range(0, len(values), chunk_size):
            hi = lo + chunk_size
            yield steps[lo:hi], timestamps[lo:hi], values[lo:hi]
