"""The web UI: experiments, runs, comparison, live curves, artifacts and the registry.

`UiServer` (server) serves the Starlette app with uvicorn in a thread of the
`trackwire server` process. The app is a gRPC client of that server's public
services, like any other client (backend: the channel, the stubs and the HTTP
glue); routes holds the tracking, artifact and live-metric endpoints,
registry_routes the model registry's. With authentication on the server, sessions
requires a signed-in session (cookie, CSRF token) and makes every call carry the user's
token; auth_routes signs in and out and serves the Access panel's grants, admin_routes the
users and teams pages. The pages (static/) are plain JavaScript
with uPlot vendored (static/vendor), so the UI works offline and needs no build.
"""

from trackwire_server.ui.server import UiServer

__all__ = ["UiServer"]
