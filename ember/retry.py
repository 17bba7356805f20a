"""Ember's one retry policy: exponential back-off with a cap, used for loops
that wait out a passing failure (through tenacity) and for task redeliveries."""

from __future__ import annotations

import dataclasses
import logging
from typing import Callable

import tenacity

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Backoff:
    """Waits first, first*factor, first*factor², ... never more than cap."""

    first: float
    cap: float
    factor: float = 2.0

    def delay(self, attempt: int) -> float:
        """The wait after the `attempt`-th failure (1 for the first)."""
        return min(self.first * self.factor ** max(attempt - 1, 0), self.cap)

    def wait(self) -> tenacity.wait.wait_base:
        return tenacity.wait_exponential(multiplier=self.first, exp_base=self.factor, max=self.cap)


# A task whose handler failed comes back after 2, 4, 8, 16, then every 30 s.
REDELIVERY = Backoff(first=2.0, cap=30.0)


def _announce(what: str, level: int, then: Callable[[], None] | None) -> Callable[[tenacity.RetryCallState], None]:
    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception()
        log.log(level, "%s: %s; trying again in %.2fs", what, exc or type(exc).__name__, state.upcoming_sleep)
        if then is not None:
            then()
    return before_sleep


def policy(
    what: str,
    on: type[BaseException] | tuple[type[BaseException], ...],
    backoff: Backoff,
    within: float,
    give_up: Callable[[], bool] | None = None,
    level: int = logging.INFO,
    then: Callable[[], None] | None = None,
) -> dict:
    """tenacity's arguments for: retry while `on` is raised, waiting per
    `backoff` (after calling then(), if given), for at most `within` seconds
    (or until give_up() is true), then raise the last error as it was. Pass
    to tenacity.Retrying or tenacity.AsyncRetrying."""
    stop = tenacity.stop_after_delay(within)
    if give_up is not None:
        stop = stop | (lambda state: give_up())
    return dict(
        retry=tenacity.retry_if_exception_type(on), wait=backoff.wait(), stop=stop, reraise=True,
        before_sleep=_announce(what, level, then),
    )


async def patiently(what: str, on, backoff: Backoff, within: float, attempt, *args, **kwargs):
    """await attempt(*args, **kwargs), again per the policy while it raises `on`."""
    async for trying in tenacity.AsyncRetrying(**policy(what, on, backoff, within)):
        with trying:
            # Awaited here: tenacity would not await what a plain callable
            # (a lambda, a partial) returns.
            return await attempt(*args, **kwargs)
