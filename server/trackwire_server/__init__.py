"""The Trackwire server: gRPC servicers over a Peewee database and fsspec artifact storage."""

__version__ = "0.1.0"
