from __future__ import annotations

import pytest

from cryptoflow.store.lake import Lake
from tests.analytics.lakes import make_small_lake


@pytest.fixture(scope="session")
def small_lake(tmp_path_factory):
    root = tmp_path_factory.mktemp("analytics-lake")
    facts = make_small_lake(root)
    lake = Lake.open(root, read_only=True)
    yield lake, facts
    lake.close()
