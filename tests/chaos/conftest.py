"""The chaos run is made once for the module's tests: each test asserts one scenario or one
pass criterion of the same run (design scale-ha.md §5.3)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chaos import scenario
from tests.conftest import fresh_database


@pytest.fixture(scope="module")
def chaos(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[scenario.Outcome]:
    folder = tmp_path_factory.mktemp("chaos")
    with (
        pytest.MonkeyPatch.context() as patch,
        fresh_database(request, "postgresql", folder) as url,
    ):
        patch.setenv("VIGIE_PARTITIONS", str(scenario.PARTITIONS))
        outcome = scenario.run(url, folder)
        print(scenario.report(outcome))
        yield outcome
