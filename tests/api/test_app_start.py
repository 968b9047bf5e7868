"""What the centre's process does when it starts, apart from serving."""

from __future__ import annotations

import gc

from fastapi.testclient import TestClient

from vigie.api import create_app
from vigie.settings import Settings


def test_start_up_heap_is_frozen_out_of_full_collections(database_url: str) -> None:
    gc.unfreeze()
    try:
        config = Settings(database_url=database_url, run_pipeline=False, gc_freeze=True)
        with TestClient(create_app(config)) as client:
            assert gc.get_freeze_count() > 0
            assert client.get("/api/health").status_code == 200
    finally:
        gc.unfreeze()  # this test process starts many more apps


def test_the_freeze_can_be_turned_off(database_url: str) -> None:
    gc.unfreeze()
    config = Settings(database_url=database_url, run_pipeline=False, gc_freeze=False)
    with TestClient(create_app(config)):
        assert gc.get_freeze_count() == 0
