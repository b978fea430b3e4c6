"""Single-flight change checks on the event loop: one check per key at a time, awaited
without blocking the loop, shared by every request that may use it.

The lean lookup path (:mod:`.read_api`) must know, for each lookup under an *open* global tag,
that the in-memory index is current: one change-counter statement (:mod:`conditions.store.stamps`).
Run synchronously on the event loop it blocks every other request for a database round trip;
run once per request it costs a round trip per request.  :class:`SingleFlight` awaits it as a
task (:class:`conditions.store.stamps.AsyncChangeCheck` on PostgreSQL; a blocking step goes to
:func:`check_pool`), at most one per key (global tag) at a time, and lets the requests that
arrive meanwhile share the *next* one.

Read-your-writes (why a request never shares a check that began before it arrived)
------------------------------------------------------------------------------------
The contract: a write committed before a client sends a lookup is seen by that lookup.  Let
``t_c`` be the writer's commit, ``t_s`` the moment the client sends, ``t_a`` the moment the
request reaches :meth:`SingleFlight.fresh` on the loop, and ``t_k`` the moment a check's
statement begins; ``t_c < t_s < t_a``.  The check sees the commit iff ``t_c < t_k``:

* PostgreSQL: the statement runs in autocommit (READ COMMITTED), its snapshot is taken when
  it begins, so it sees every transaction committed before ``t_k``;
* SQLite: ``PRAGMA data_version`` is read first; it moves whenever another connection
  committed since the check connection last read it (the check connection never writes), and
  then the sum is read again.

So any check with ``t_k > t_a`` is good for the request.  A check already *in flight* when the
request arrives may have begun (``t_k < t_a``) before the commit (``t_k < t_c``): its answer
can be the state before the write, and sharing it would hand the client that just wrote a
stale answer.  Hence the rule here: a request shares only a check that is *launched after it
arrived*.  Concretely, per key there is at most one check running and one batch waiting:

1. no check running: the request launches one (``t_k > t_a``) and awaits it;
2. a check running: the request joins the waiting batch; when the running check finishes, its
   completion callback (on the loop, after every member of the batch was registered there)
   launches the next check for the whole batch, so ``t_k >`` every member's ``t_a``.

The loop is single-threaded, so "registered" and "launched" are ordered by the loop itself; the
task that runs the check begins its statement later still.  A request waits for at most the
end of the running check plus one check; under load one check answers a whole batch.

A result is a value or an exception, delivered to every member of its batch; a member that is
cancelled (its client went away) does not cancel the check the others wait for.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar, cast

__all__ = ["SingleFlight", "check_pool"]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")

#: Threads of the process-wide pool that runs change checks (at most one per key at a time;
#: :data:`conditions.store.stamps.KEEP` idle connections serve as many threads).
CHECK_THREADS = 4

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def check_pool() -> ThreadPoolExecutor:
    """The process-wide pool of change-check threads (created on first use; kept apart from the
    framework's thread pool, so a check never queues behind slow requests)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(CHECK_THREADS, thread_name_prefix="conddb-check")
        return _pool


class _Key:
    """State of one key on one loop: the running check's future and the waiting batch's."""

    __slots__ = ("loop", "running", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.running: asyncio.Future[object] | None = None
        self.waiting: asyncio.Future[object] | None = None


class SingleFlight(Generic[K, T]):
    """``await fresh(key)`` = ``await check(key)`` in a task launched after the call began,
    shared with the concurrent callers of the same key (module docstring)."""

    def __init__(self, check: Callable[[K], Awaitable[T]]) -> None:
        self._check = check
        # per event loop (a test may run several loops one after another): key -> state
        self._keys: dict[tuple[int, K], _Key] = {}
        #: checks launched (each one served a batch of one or more awaiters)
        self.launched = 0

    async def fresh(self, key: K) -> T:
        loop = asyncio.get_running_loop()
        slot = (id(loop), key)
        state = self._keys.get(slot)
        if state is None or state.loop is not loop:  # (a closed loop's id can be reused)
            state = self._keys[slot] = _Key(loop)
        if state.running is None:
            future = loop.create_future()
            self._launch(loop, slot, state, future)
        else:
            if state.waiting is None:
                state.waiting = loop.create_future()
            future = state.waiting
        # shield: one member cancelled must not cancel the result the others wait for
        outcome = await asyncio.shield(future)
        if isinstance(outcome, _Failure):
            raise outcome.error
        return cast(T, outcome)

    def _launch(
        self,
        loop: asyncio.AbstractEventLoop,
        slot: tuple[int, K],
        state: _Key,
        future: asyncio.Future[object],
    ) -> None:
        state.running = future
        self.launched += 1
        job = loop.create_task(self._outcome(slot[1]))
        job.add_done_callback(lambda done: self._finish(loop, slot, state, future, done))

    async def _outcome(self, key: K) -> object:
        try:
            return await self._check(key)
        except Exception as exc:  # handed to every awaiter of the batch
            return _Failure(exc)

    def _finish(
        self,
        loop: asyncio.AbstractEventLoop,
        slot: tuple[int, K],
        state: _Key,
        future: asyncio.Future[object],
        done: asyncio.Task[object],
    ) -> None:
        outcome: object = _Failure(asyncio.CancelledError()) if done.cancelled() else done.result()
        future.set_result(outcome)
        state.running = None
        waiting, state.waiting = state.waiting, None
        if waiting is not None:
            # launched now: after every member of the batch arrived (read-your-writes)
            self._launch(loop, slot, state, waiting)
        elif self._keys.get(slot) is state:
            del self._keys[slot]  # idle: nothing kept per key


class _Failure:
    """The exception a check raised (a future's result, so that none goes unretrieved)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error
