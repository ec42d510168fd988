"""The Redis Cluster the cluster tests share: started once for the package, emptied by each test that uses it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .cluster import ClusterGroup


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterGroup]:
    group = ClusterGroup(tmp_path_factory.mktemp("cluster")).start()
    yield group
    group.stop()


@pytest.fixture()
def empty_cluster(cluster: ClusterGroup) -> ClusterGroup:
    cluster.flush()
    return cluster
