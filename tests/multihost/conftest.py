"""The multi-host fixtures: one reference topology for the session (the
tests that break a host mend it before they end), and an agent on compute-1."""

import pytest

from tests.multihost import network
from tests.multihost.topology import Topology


@pytest.fixture(scope="session")
def topology(tmp_path_factory):
    network.require()
    built = Topology(tmp_path_factory.mktemp("hosts"))
    try:
        yield built.start()
    finally:
        built.close()


@pytest.fixture(scope="session")
def compute(topology):
    """The agent on compute-1 that every test's calls leave from."""
    agent = topology.agent("compute-1")
    try:
        yield agent
    finally:
        agent.close()
