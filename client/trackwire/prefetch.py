"""Overlapping the two halves of a file transfer: `prefetch(chunks)` pulls the chunks on a
helper thread while the caller handles the previous ones.

An artifact transfer is a producer (a file read, a gRPC stream received) and a consumer
(a gRPC stream sent, a file written) that each wait on the kernel with the GIL released;
run one after the other they leave half the machine idle. Both the client and the server
use this (the server imports it from here).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

DEPTH = 4  # chunks read ahead: 4 MiB with the 1 MiB chunks of artifact transfers
_POLL_SECONDS = 0.1
_END = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def prefetch(chunks: Iterable[T], depth: int = DEPTH, on_abandon=None) -> Iterator[T]:
    """Yields what `chunks` yields, pulled up to `depth` items ahead on a helper thread.

    The first item is pulled on the caller's thread, so a transfer of one chunk (most
    files) starts no thread. An error of `chunks` is raised where the item would have
    been. If the caller stops early (an error, a close), the helper stops after its
    current item; `on_abandon()` is called first, to unblock it (cancel a stream).
    """
    iterator = iter(chunks)
    try:
        first = next(iterator)
    except StopIteration:
        return
    try:
        second = next(iterator)
    except StopIteration:
        yield first
        return
    items: queue.Queue = queue.Queue(depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def pull() -> None:
        try:
            for item in iterator:
                if not put(item):
                    break
            else:
                put(_END)
        except BaseException as e:  # handed to the caller's thread
            put(_Failure(e))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    helper = threading.Thread(target=pull, name="trackwire-prefetch", daemon=True)
    helper.start()
    try:
        yield first
        yield second
        while True:
            item = items.get()
            if item is _END:
                break
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        if helper.is_alive():
            stop.set()
            if on_abandon is not None:
                on_abandon()
                helper.join()
