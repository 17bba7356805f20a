"""python -m scheduler: one scheduler instance; run as many as you like."""

import asyncio

from ember import config, runtime
from scheduler.service import SchedulerService


def main() -> None:
    runtime.configure_logging()
    settings = config.parse(description="Ember scheduler")
    asyncio.run(runtime.run(settings, "scheduler", SchedulerService))


if __name__ == "__main__":
    main()
