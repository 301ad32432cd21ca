"""The server process's signals: SIGTERM and SIGINT ask it to stop; SIGUSR1 prints every
thread's stack on stderr while it goes on serving (`kill -USR1 <pid>`, for a server that
seems stuck), as does a fatal error (SIGSEGV, SIGABRT...).

    stop = StopSignals().install()
    ...
    stop.wait()   # returns once SIGTERM or SIGINT came
"""

from __future__ import annotations

import faulthandler
import signal
import threading

# How often the main thread looks for a stop signal (see StopSignals.wait).
STOP_POLL_SECONDS = 0.5


class StopSignals:
    """SIGTERM and SIGINT, caught for the main thread to stop the server."""

    def __init__(self):
        self._stopping = threading.Event()

    def install(self) -> StopSignals:
        """Catches the stop signals and turns on the stack dumps; from the main thread."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        enable_stack_dumps()
        return self

    def _on_signal(self, signum, frame) -> None:
        self._stopping.set()

    def wait(self) -> None:
        """Returns once a stop signal came. A timed wait: a signal that the kernel handed
        to another thread (POSIX lets it) is only recorded there, and its Python handler
        runs when the main thread next wakes, within STOP_POLL_SECONDS; an untimed wait
        slept on for ever."""
        while not self._stopping.wait(STOP_POLL_SECONDS):
            pass


def enable_stack_dumps() -> None:
    """SIGUSR1 and fatal errors print every thread's stack on stderr. Without a stderr
    file (a process started with it closed) there is nowhere to print: SIGUSR1 is then
    ignored, rather than ending the process as it would by default."""
    try:
        faulthandler.enable()
        faulthandler.register(signal.SIGUSR1, all_threads=True, chain=False)
    except (RuntimeError, ValueError, OSError):
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)
