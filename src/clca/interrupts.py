"""Ctrl-C that is never lost.

Python raises KeyboardInterrupt wherever the main thread happens to be when SIGINT arrives; when that is inside a
`__del__` method or a weakref finalizer run by the garbage collector, the interpreter prints "Exception ignored"
and carries on, so a long run would go on to the end as if nothing happened. The CLI installs `on_sigint`, which
also remembers the interrupt; the stage loops call `check()` between units of work, so a swallowed interrupt
still stops the run at the next safe point.
"""

from __future__ import annotations

import signal
import threading

_received = threading.Event()


def on_sigint(signum, frame) -> None:
    _received.set()
    raise KeyboardInterrupt


def install() -> None:
    """Route SIGINT through `on_sigint` (main thread only; a no-op elsewhere)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, on_sigint)


def check() -> None:
    """Raise KeyboardInterrupt if an interrupt arrived, even one that was swallowed where it was first raised."""
    if _received.is_set():
        raise KeyboardInterrupt
