"""python -m backup: one backup service instance (skeleton: no RPCs yet)."""

import asyncio

from ember import config, runtime


class BackupService:
    name = "backup"

    def __init__(self, runtime_: runtime.Runtime):
        self.runtime = runtime_

    def servicers(self):
        return []

    async def start(self, runtime_: runtime.Runtime) -> None:
        return None

    async def stop(self) -> None:
        return None


def main() -> None:
    runtime.configure_logging()
    settings = config.parse(description="Ember backup service")
    asyncio.run(runtime.run(settings, "backup", BackupService))


if __name__ == "__main__":
    main()
