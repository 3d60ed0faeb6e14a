"""The crawler suites' farm of targets, one per test module."""

from collections.abc import Iterator

import pytest

from devtools.farm import Farm, running_farm


@pytest.fixture(scope="module")
def farm() -> Iterator[Farm]:
    with running_farm() as running:
        yield running
