"""Shared fixtures: a private texture cache so tests never touch the user's."""

import pytest


@pytest.fixture(autouse=True, scope="session")
def _cache_dir(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("GOGGLES_GYM_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()
