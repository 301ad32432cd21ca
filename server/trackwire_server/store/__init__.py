"""Persistence: the only code that knows SQL.

`TrackingStore` is the interface the servicers call; `schema` holds the tables
and their migrations; `metric_codec` packs metric points into chunks.
"""

from trackwire_server.store.database import open_database
from trackwire_server.store.tracking_store import TrackingStore

__all__ = ["TrackingStore", "open_database"]
