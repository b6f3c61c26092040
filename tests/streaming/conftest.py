"""The streaming tests' receivers listen on this machine's loopback: allowed explicitly here,
as an operator would (destinations reach only public addresses otherwise)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from ingest.receiver import Receiver, create_app
from sql.gateway import Database
from streaming.network import ALLOWED_NETWORKS_ENV
from streaming.read_api import install_read_api

LOCAL_RECEIVERS = "127.0.0.0/8,::1/128"


@pytest.fixture(autouse=True)
def _local_receivers_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOWED_NETWORKS_ENV, LOCAL_RECEIVERS)


@pytest.fixture
def public_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network allowed: destinations reach public addresses only, the default."""
    monkeypatch.delenv(ALLOWED_NETWORKS_ENV)


@pytest.fixture
def client(db: Database, tmp_path) -> Iterator[TestClient]:
    """The receiver's app with the read API, as `auditlens serve-ingest` serves it."""
    receiver = Receiver(db, spool_dir=tmp_path / "spool", replay_interval=0.05)
    app = create_app(receiver)
    install_read_api(app, db)
    yield TestClient(app)
    receiver.close()
