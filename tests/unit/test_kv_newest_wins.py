"""A bucket's mirror keeps each key's newest report, whatever order the
puts reached the bus in: a put sent just before its host was cut off can
arrive, on its old connection, after those sent once the host was back."""

import time

from tests.unit.test_nats_cluster_config import Entry, beat, mirror_of


async def test_a_late_older_report_does_not_replace_a_newer_one():
    now = time.time()
    mirror = await mirror_of(beat("store-1.file.p", now, revision=1), beat("store-1.file.p", now - 11, revision=2),
                             beat("store-2.file.p", now - 3, revision=3), beat("store-2.file.p", now, revision=4))
    try:
        assert mirror.entries["store-1.file.p"]["ts"] == now, "the older report, though last, lost"
        assert mirror.entries["store-2.file.p"]["ts"] == now
    finally:
        await mirror.stop()


async def test_a_deleted_key_takes_any_report_again():
    now = time.time()
    mirror = await mirror_of(beat("volume.a", now, revision=1), Entry("volume.a", b"", 2, "DEL"),
                             beat("volume.a", now - 5, revision=3))
    try:
        assert mirror.entries["volume.a"]["ts"] == now - 5
    finally:
        await mirror.stop()
