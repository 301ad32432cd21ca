"""The web UI: experiments, runs, comparison, live curves and artifacts in a browser.

`UiServer` (server) serves the Starlette app (routes) with uvicorn in a thread
of the `trackwire server` process. The app is a gRPC client of that server's
public services, like any other client; the pages (static/) are plain
JavaScript with uPlot vendored, so the UI works offline and needs no build.
"""

from trackwire_server.ui.server import UiServer

__all__ = ["UiServer"]
