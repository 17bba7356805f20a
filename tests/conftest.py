import pytest

from tests.harness import Cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One Ember per test module; tests keep to their own projects."""
    c = Cluster(tmp_path_factory.mktemp("ember"))
    try:
        c.start_all()
        yield c
    finally:
        c.stop()


@pytest.fixture
def fresh_cluster(tmp_path):
    """An Ember of the test's own, started by the test as it needs."""
    c = Cluster(tmp_path)
    try:
        yield c
    finally:
        c.stop()
