"""Fixtures of the browser tests: the fitted campaigns (once per session) and, per backend, a
populated database served by the real service on 127.0.0.1 (once per module)."""

from __future__ import annotations

import os
import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest

from conditions.campaign import CampaignConstants
from conditions.db import make_engine
from conditions.service.testing import RunningService, running_service
from tests.conftest import Backend, _backend_params

from .dataset import Dataset, fit_campaigns, populate


@pytest.fixture(scope="session")
def campaign_constants(tmp_path_factory: pytest.TempPathFactory) -> list[CampaignConstants]:
    """The fitted campaigns; ``$CONDDB_TEST_CAMPAIGN_CACHE`` (a file) keeps them between runs of
    a developer's edit-test loop (CI leaves it unset and fits every time)."""
    cache = os.environ.get("CONDDB_TEST_CAMPAIGN_CACHE")
    if cache and Path(cache).exists():
        loaded: list[CampaignConstants] = pickle.loads(Path(cache).read_bytes())
        return loaded
    constants = fit_campaigns(tmp_path_factory.mktemp("campaigns"))
    if cache:
        Path(cache).write_bytes(pickle.dumps(constants))
    return constants


@pytest.fixture(scope="module", params=_backend_params())
def served(
    request: pytest.FixtureRequest,
    backends: dict[str, Backend],
    campaign_constants: list[CampaignConstants],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningService, Dataset]]:
    """(running service, dataset) on a populated database of the parametrised backend."""
    backend = backends[request.param]
    backend.setup()
    url = backend.new_url()
    engine = make_engine(url)
    try:
        data = populate(engine, campaign_constants)
    finally:
        engine.dispose()
    workdir: Path = tmp_path_factory.mktemp(f"service-{request.param}")
    try:
        with running_service(url, workdir) as svc:
            yield svc, data
    finally:
        backend.drop(url)
