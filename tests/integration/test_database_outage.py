"""PostgreSQL going away and coming back (a restart or failover): calls made
meanwhile get UNAVAILABLE or wait for it, writes in flight are retried, no
service crashes, and everything works again once it is back."""

import re
import threading
import time

import grpc
import pytest

from ember.v1 import volume_pb2
from tests.harness import Cluster


# What ember.writer logs each time a batch finds the database gone.
WRITES_WAITING = re.compile(r"database connection lost; running \d+ writes again")


def fails(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(*args, **kwargs)
    return err.value


def test_services_ride_through_a_database_restart(tmp_path, postgres_server):
    c = Cluster(tmp_path, postgres_server)
    try:
        c.start_all()
        client = c.client("outage")
        before = client.create_available(1)

        volume_service = next(p for p in c.processes if p.name == "volume")
        postgres_server.halt()
        try:
            down = fails(client.get, before.id)
            assert down.code() == grpc.StatusCode.UNAVAILABLE and "database" in down.details()
            waits_before = len(WRITES_WAITING.findall(volume_service.log()))
            made: list = []
            creating = threading.Thread(target=lambda: made.append(client.create(1)))
            creating.start()
            # The volume service says when a write waits for the database:
            # once it has said so again, the create has reached it.
            deadline = time.monotonic() + 30
            while len(WRITES_WAITING.findall(volume_service.log())) <= waits_before:
                assert time.monotonic() < deadline, "no write waited for the database: " + volume_service.log()[-2000:]
                time.sleep(0.05)
            assert creating.is_alive() and not made, "the create was answered while the database was down"
        finally:
            postgres_server.resume()
        creating.join(timeout=60)
        assert made, "a create sent while the database was down waits for it and is made"
        done = client.wait(made[0], timeout=60)
        assert done.done and not done.HasField("error"), done
        volume = volume_pb2.Volume()
        done.response.Unpack(volume)
        assert client.get(volume.id).status == volume_pb2.VOLUME_STATUS_AVAILABLE
        assert client.get(before.id).status == volume_pb2.VOLUME_STATUS_AVAILABLE
        deleted = client.wait(client.delete(before.id), timeout=60)
        assert deleted.done and not deleted.HasField("error")
        assert all(p.running for p in c.processes), c.logs()
        assert "Traceback" not in "".join(p.log() for p in c.processes if p.name == "api_gateway")
    finally:
        c.stop()
