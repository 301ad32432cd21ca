"""Persistence: the only code that knows SQL.

`TrackingStore` (tracking_store) is the interface the servicers call, and
`RegistryStore` (registry_store) the model registry's, over the same database. Beside them:
`schema` the tables and their migrations, `connecting` opening the database and
replacing broken connections, `unit_of_work` one transaction per call (retries,
deadlines, database faults as domain errors), `request_log` client request ids,
`statement_cache` statements rendered once, `writes` what a write carries (checked against the limits),
`metric_points` and `metric_codec` how metric points are kept (chunks, latest
values, downsampling), `search_queries` filters and sort keys as queries,
`paging` page tokens, `validation` checks on names and keys, `records` the plain
objects the store returns.
"""

from trackwire_server.store.connecting import open_database
from trackwire_server.store.tracking_store import TrackingStore

__all__ = ["TrackingStore", "open_database"]
