"""A NATS server that falls silent without closing its connections, as one
whose host is cut off by the network does: a service's bus notices within
seconds, by its unanswered pings, and connects again (to any server it was
given), instead of waiting minutes for TCP to give up."""

from __future__ import annotations

import asyncio
import time

from ember import launcher
from ember.bus import Bus

NOTICED_WITHIN = 20.0


class Cable:
    """A TCP relay to `port`: pull() leaves the connections open but carries
    nothing more over them; connections made afterwards work."""

    def __init__(self, port: int):
        self.upstream_port = port
        self.pulled: set[asyncio.StreamWriter] = set()
        self.live: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    def pull(self) -> None:
        self.pulled |= self.live

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, mine) -> None:
        while data := await reader.read(65536):
            if mine not in self.pulled:
                writer.write(data)
                await writer.drain()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self.live.add(writer)
        try:
            await asyncio.gather(self._pump(reader, up_writer, writer), self._pump(up_reader, writer, writer))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.live.discard(writer)
            writer.close()
            up_writer.close()

    async def close(self) -> None:
        for writer in list(self.live):
            writer.close()
        self.server.close()


async def test_a_bus_whose_server_falls_silent_connects_again(tmp_path):
    mesh = launcher.Mesh(tmp_path)
    nats_server = mesh.start_nats(launcher.free_port())
    cable = Cable(int(nats_server.address.rsplit(":", 1)[1]))
    port = await cable.start()
    bus = await Bus.connect(f"nats://127.0.0.1:{port}", "silent-server-test", options=mesh.nats_options())
    try:
        cable.pull()
        deadline = time.monotonic() + NOTICED_WITHIN
        while bus.nc.stats["reconnects"] < 1:
            assert time.monotonic() < deadline, "the bus did not notice its server had gone silent"
            await asyncio.sleep(0.2)
        # The new connection carries traffic again.
        await bus.nc.flush(timeout=5)
        await bus.publish_event("ember.events.volumes.x", {"status": "available"})
    finally:
        await bus.close()
        await cable.close()
        mesh.stop()
