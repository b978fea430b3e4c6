"""Single-flight change checks (conditions/service/flights.py), with a check that waits on an
event so that which awaiter shares which check is decided by the rule, not by timing.

The rule (read-your-writes): an awaiter shares only a check *launched after it arrived*; the
awaiters that arrive while one check runs share the next one, launched when it ends.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from conditions.service.flights import SingleFlight


class GatedCheck:
    """``check(key)`` returns ``(key, n)``, n = how many checks had begun; each one blocks in
    its thread until :meth:`release` (one release per check)."""

    def __init__(self) -> None:
        self.begun = 0
        self.gate = threading.Semaphore(0)
        self.started = threading.Event()
        self.fail: BaseException | None = None

    def __call__(self, key: str) -> tuple[str, int]:
        self.begun += 1
        n = self.begun
        self.started.set()
        self.gate.acquire()
        if self.fail is not None:
            raise self.fail
        return key, n

    async def run(self, key: str) -> tuple[str, int]:
        """The check as the flight awaits it (blocking part in a thread, like a rebuild)."""
        return await asyncio.to_thread(self, key)

    async def wait_started(self) -> None:
        await asyncio.to_thread(self.started.wait, 5)
        self.started.clear()

    def release(self) -> None:
        self.gate.release()


Task = asyncio.Task[tuple[str, int]]


async def one_running_and_a_batch(
    flight: SingleFlight[str, tuple[str, int]], check: GatedCheck, n: int
) -> tuple[Task, list[Task]]:
    """A check running for ``first`` (held at its gate) and ``n`` awaiters of the same key
    that arrived after it began."""
    first = asyncio.create_task(flight.fresh("G"))
    await check.wait_started()
    batch = [asyncio.create_task(flight.fresh("G")) for _ in range(n)]
    await asyncio.sleep(0.01)
    return first, batch


def test_awaiters_that_arrive_during_a_check_share_the_next_one() -> None:
    check = GatedCheck()
    flight: SingleFlight[str, tuple[str, int]] = SingleFlight(check.run)

    async def main() -> None:
        first = asyncio.create_task(flight.fresh("G"))
        await check.wait_started()  # check 1 runs (launched for `first`)
        later = [asyncio.create_task(flight.fresh("G")) for _ in range(5)]
        other = asyncio.create_task(flight.fresh("H"))  # another key: its own check at once
        await check.wait_started()
        await asyncio.sleep(0.01)
        assert flight.launched == 2  # G's check 1 and H's; the five G awaiters wait
        check.release()
        check.release()
        got = await first
        await check.wait_started()  # launched for the five when check 1 ended
        assert flight.launched == 3
        check.release()
        shared = await asyncio.gather(*later)
        assert {r[0] for r in shared} == {"G"} and (await other)[0] == "H"
        assert got == ("G", 1) and len({r[1] for r in shared}) == 1
        assert shared[0][1] == 3  # the check begun after they arrived, never check 1
        assert flight.launched == 3
        # idle again: nothing is kept, and the next awaiter launches a check of its own
        assert not flight._keys
        nxt = asyncio.create_task(flight.fresh("G"))
        await check.wait_started()
        check.release()
        assert (await nxt)[1] == 4

    asyncio.run(main())


def test_an_error_reaches_every_member_of_its_batch_and_the_next_check_runs() -> None:
    check = GatedCheck()
    flight: SingleFlight[str, tuple[str, int]] = SingleFlight(check.run)

    async def main() -> None:
        first, batch = await one_running_and_a_batch(flight, check, 3)
        check.release()
        await first
        await check.wait_started()
        check.fail = RuntimeError("database down")
        check.release()
        results = await asyncio.gather(*batch, return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results), results
        check.fail = None
        again = asyncio.create_task(flight.fresh("G"))
        await check.wait_started()
        check.release()
        assert (await again)[1] == 3

    asyncio.run(main())


def test_a_cancelled_awaiter_does_not_cancel_the_check_of_the_others() -> None:
    check = GatedCheck()
    flight: SingleFlight[str, tuple[str, int]] = SingleFlight(check.run)

    async def main() -> None:
        first, batch = await one_running_and_a_batch(flight, check, 3)
        first.cancel()  # its client went away
        batch[0].cancel()
        check.release()
        with pytest.raises(asyncio.CancelledError):
            await first
        await check.wait_started()  # the batch's check still launched
        check.release()
        assert [r[1] for r in await asyncio.gather(*batch[1:])] == [2, 2]
        with pytest.raises(asyncio.CancelledError):
            await batch[0]

    asyncio.run(main())
