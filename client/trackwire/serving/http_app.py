"""The HTTP face of the scoring server: MLflow's scoring protocol as an ASGI app.

    POST /invocations   score a body (JSON formats, CSV, Parquet) -> {"predictions": ...}
    GET  /ping, /health 200 once the model is loaded
    GET  /version       the Trackwire version

Errors are JSON `{"error_code": ..., "message": ...}` as MLflow's: 400 BAD_REQUEST for a
malformed body or one the signature refuses, 413 for a body over the limit, 415 for a
content type it does not read, 404/405 for other paths and methods. A small request to
a model with a fast path (trackwire.serving.fast_path) is scored on the event loop (a
thread hop would cost more than the prediction); every other one in a worker thread,
so a slow model or a large body does not hold up the other requests.

It is a bare ASGI callable rather than a framework app: the scoring path is a few
dozen microseconds, and routing and request objects would be a good part of them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from trackwire.serving import inputs, outputs, scoring
from trackwire.serving.served_model import ServedModel

log = logging.getLogger("trackwire.serving")

DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
# Bodies up to this size are scored on the event loop when the model has a fast path.
INLINE_BODY_BYTES = 64 * 1024

_JSON_HEADERS = [(b"content-type", b"application/json")]
_TEXT_HEADERS = [(b"content-type", b"text/plain; charset=utf-8")]


class ScoringApp:
    """ASGI app scoring with `served.current`. `on_startup` / `on_shutdown` run in the
    ASGI lifespan (the gRPC server and the --watch thread start and stop there)."""

    def __init__(
        self,
        served: ServedModel | Callable[[], ServedModel],
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        on_startup: Callable[[ServedModel], None] | None = None,
        on_shutdown: Callable[[ServedModel], None] | None = None,
    ):
        self._served = served if isinstance(served, ServedModel) else None
        self._make_served = None if isinstance(served, ServedModel) else served
        self.max_body_bytes = max_body_bytes
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown
        self._version = _version().encode()
        scoring.quiet_signature_warnings()

    @property
    def served(self) -> ServedModel:
        assert self._served is not None, "the model loads at startup"
        return self._served

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self._served is None:
                        self._served = await asyncio.to_thread(self._make_served)
                    if self.on_startup:
                        self.on_startup(self._served)
                except Exception as e:
                    log.exception("the scoring server could not start")
                    await send({"type": "lifespan.startup.failed", "message": str(e)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.on_shutdown and self._served is not None:
                    await asyncio.to_thread(self.on_shutdown, self._served)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: dict, receive: Callable, send: Callable) -> None:
        path, method = scope["path"], scope["method"]
        if path == "/invocations":
            if method != "POST":
                return await _send(send, 405, b"use POST on /invocations", _TEXT_HEADERS)
            return await self._invocations(scope, receive, send)
        if path in ("/ping", "/health"):
            if method not in ("GET", "HEAD"):
                return await _send(send, 405, b"use GET", _TEXT_HEADERS)
            return await _send(send, 200, b"\n", _JSON_HEADERS)
        if path == "/version":
            return await _send(send, 200, self._version, _JSON_HEADERS)
        await _send(
            send,
            404,
            b"not found: the scoring server has /invocations, /ping, /health and /version",
            _TEXT_HEADERS,
        )

    async def _invocations(self, scope: dict, receive: Callable, send: Callable) -> None:
        content_type = None
        length = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"content-length":
                length = int(value) if value.isdigit() else None
        if length is not None and length > self.max_body_bytes:
            return await _error(send, 413, "REQUEST_ENTITY_TOO_LARGE", self._too_large())
        body = await self._read_body(receive)
        if body is None:
            return await _error(send, 413, "REQUEST_ENTITY_TOO_LARGE", self._too_large())
        loaded = self.served.current  # this request's model, even if a swap comes now
        try:
            mime = inputs.media_type(content_type)
            if loaded.fast is not None and len(body) <= INLINE_BODY_BYTES:
                result = _score(loaded, body, mime)
            else:
                result = await asyncio.to_thread(_score, loaded, body, mime)
        except inputs.UnsupportedMediaType as e:
            return await _error(send, 415, "UNSUPPORTED_MEDIA_TYPE", str(e))
        except inputs.BadRequest as e:
            return await _error(send, 400, "BAD_REQUEST", str(e))
        except Exception as e:
            log.exception("scoring failed")
            return await _error(send, 500, "INTERNAL_ERROR", f"{type(e).__name__}: {e}")
        await _send(send, 200, result, _JSON_HEADERS)

    def _too_large(self) -> str:
        return f"the request body is larger than the limit of {self.max_body_bytes} bytes"

    async def _read_body(self, receive: Callable) -> bytes | None:
        """The whole body, or None when it grows past the limit."""
        message = await receive()
        body = message.get("body", b"")
        if not message.get("more_body"):
            return body if len(body) <= self.max_body_bytes else None
        parts = [body]
        size = len(body)
        while message.get("more_body"):
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                return None
            parts.append(chunk)
        return b"".join(parts)


def _score(loaded, body: bytes, mime: str) -> bytes:
    signature = loaded.signature
    schema = signature.inputs if signature else None
    if mime == inputs.CONTENT_TYPE_CSV and loaded.fast is not None:
        rows = loaded.fast.rows_csv(body)
        if rows is not None:
            try:
                return outputs.predictions_json(loaded.fast.predict(rows))
            except Exception:  # noqa: S110 (the general path words what is wrong)
                pass
    if mime != inputs.CONTENT_TYPE_JSON:
        parsed = inputs.parse_body(body, mime, schema)
    else:
        document = inputs.decode_json(body)
        if loaded.fast is not None and isinstance(document, dict) and len(document) == 1:
            ((key, value),) = document.items()
            rows = loaded.fast.rows_of(key, value)
            if rows is not None:
                try:
                    return outputs.predictions_json(loaded.fast.predict(rows))
                except Exception:  # noqa: S110 (the general path words what is wrong)
                    pass
        parsed = inputs.parse_document(document, schema)
    return outputs.predictions_json(scoring.predict(loaded, parsed.data, parsed.params))


async def _send(send: Callable, status: int, body: bytes, headers: list) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _error(send: Callable, status: int, code: str, message: str) -> None:
    await _send(
        send, status, outputs.dumps({"error_code": code, "message": message}), _JSON_HEADERS
    )


def _version() -> str:
    import trackwire

    return trackwire.__version__


def create_app(served: Any, **kwargs: Any) -> ScoringApp:
    return ScoringApp(served, **kwargs)
