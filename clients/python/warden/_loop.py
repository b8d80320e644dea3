"""A private asyncio event loop on a thread of its own, on which the
blocking client runs the engine, and the blocking twins of the engine's
coroutine methods. Blocking calls hand the loop a coroutine and wait for
its outcome; a caller interrupted meanwhile (KeyboardInterrupt) has the
coroutine cancelled and waits for its clean-up (a lock wait canceled at
the agent, a lock granted in that instant released)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import threading
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Generic, List, Optional, TypeVar

if TYPE_CHECKING:
    from typing_extensions import Concatenate, ParamSpec

    P = ParamSpec("P")

T = TypeVar("T")
A = TypeVar("A")
R = TypeVar("R")
S = TypeVar("S")

_CLEANUP_TIMEOUT = 40.0  # a cancelled grant awaits its own reply for up to 35 s


async def _await(aw: Awaitable[T]) -> T:
    return await aw


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.stopped = False
        self._thread = threading.Thread(target=self._run, name="warden-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            tasks = asyncio.all_tasks(self.loop)
            for t in tasks:
                t.cancel()
            if tasks:
                self.loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self.loop.close()

    def run(self, aw: Awaitable[T]) -> T:
        """Runs aw on the loop and returns its result (raises its error)."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("a blocking warden call from the client's own event loop would never return")
        done: "concurrent.futures.Future[T]" = concurrent.futures.Future()
        box: List["asyncio.Task[T]"] = []

        def finished(t: "asyncio.Task[T]") -> None:
            if t.cancelled():
                done.cancel()
            elif t.exception() is not None:
                done.set_exception(t.exception())
            else:
                done.set_result(t.result())

        def start() -> None:
            t = self.loop.create_task(_await(aw))
            box.append(t)
            t.add_done_callback(finished)

        self.loop.call_soon_threadsafe(start)
        try:
            return done.result()
        except BaseException:
            if not done.done():
                # Interrupted: the coroutine is cancelled, and cleans up.
                self.loop.call_soon_threadsafe(lambda: box[0].cancel() if box else None)
                try:
                    done.result(_CLEANUP_TIMEOUT)
                except BaseException:  # noqa: BLE001 - the interruption wins
                    pass
            raise

    def stop(self, timeout: Optional[float] = 10.0) -> None:
        """Stops the loop (its tasks are cancelled) and its thread."""
        if self.stopped:
            return
        self.stopped = True
        try:
            self.loop.call_soon_threadsafe(self.loop.stop)
        except RuntimeError:
            return  # closed already
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)


def closing(aw: Any) -> None:
    """Disposes of a coroutine that will not run."""
    close = getattr(aw, "close", None)
    if callable(close):
        close()


class Blocking(Generic[A]):
    """The blocking face of an asyncio object _a, whose coroutines it runs
    on the client's loop thread."""

    _a: A

    def _run(self, aw: Awaitable[T]) -> T:
        raise NotImplementedError

    def _quiet(self, aw: Awaitable[None]) -> None:
        raise NotImplementedError


def blocking(f: "Callable[Concatenate[A, P], Awaitable[T]]") -> "Callable[Concatenate[Blocking[A], P], T]":
    """The blocking twin of the coroutine method f, with its name,
    signature and documentation: it runs f on the loop thread and returns
    (or raises) what f does."""
    def call(self: Blocking[A], /, *args: "P.args", **kwargs: "P.kwargs") -> T:
        return self._run(f(self._a, *args, **kwargs))

    functools.update_wrapper(call, f)
    return call


def wrapping(f: "Callable[Concatenate[A, P], R]",
             wrap: "Callable[[Blocking[A], R], S]") -> "Callable[Concatenate[Blocking[A], P], S]":
    """The blocking twin of the method f, which returns an asyncio object (a
    stream, not yet opened) at once: wrap makes the object's blocking face."""
    def call(self: Blocking[A], /, *args: "P.args", **kwargs: "P.kwargs") -> S:
        return wrap(self, f(self._a, *args, **kwargs))

    functools.update_wrapper(call, f)
    return call
