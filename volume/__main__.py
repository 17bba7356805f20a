"""python -m volume: one volume service instance (API plus this host's backend)."""

import asyncio

from ember import config, runtime
from volume.service import VolumeService


def main() -> None:
    runtime.configure_logging()
    settings = config.parse(description="Ember volume service")
    asyncio.run(runtime.run(settings, "volume", VolumeService))


if __name__ == "__main__":
    main()
