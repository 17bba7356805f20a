"""The backup service as the runtime sees it. For now a skeleton: it joins the
bus and the registry and reports health; its workflows come later."""

from __future__ import annotations

from ember.runtime import Runtime


class BackupService:
    name = "backup"

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def servicers(self):
        return []

    async def start(self, runtime: Runtime) -> None:
        return None

    async def stop(self) -> None:
        return None
