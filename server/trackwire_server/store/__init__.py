"""Persistence: the only code that knows SQL.

`Store` (store) is what the servicers call: one database, and its parts as attributes,
each in a module of its own:
`experiments` experiments and their tags; `runs` runs with their params and tags, and
LogBatch; `metric_history` (`store.metrics`) metric points in chunks, latest values,
streamed batches and history reads; `run_search` (`store.search`) SearchRuns, an object
given what it needs; `registered_models` and `model_versions` the model registry;
`request_log` client request ids.
What the parts share: `context` (the database, its tables, the statement cache and the
unit of work), `rows` and `registry_rows` (the rows calls start from, and records).
Beside them: `schema` the tables and their migrations, `migrations` applying them under a
lock in the database, `connecting` opening the database, its bounded connection pool and
replacing broken connections, `read_routing` reads on a PostgreSQL streaming replica
(`Store.reads`) and the commit positions that keep read-your-writes, `statistics` ANALYZE
after bulk writes (PostgreSQL), `unit_of_work` one transaction per call (the
one retry policy, deadlines, database faults as domain errors), `statement_cache`
statements rendered once, `inserts` bulk inserts and upserts (`on_conflict`), `writes`
what a write carries (checked against the limits, and the one routine splitting points
by series),
`metric_points` and `metric_codec` how metric points are kept (chunks, latest values,
downsampling), `search_queries` filters and sort keys as queries, `paging` page tokens,
`validation` checks on names and keys, `records` the plain objects the store returns,
`constants` the stored enum values (from the generated code), `run_names` names for
unnamed runs.
"""

from trackwire_server.store.connecting import open_database
from trackwire_server.store.store import Store

__all__ = ["Store", "open_database"]
