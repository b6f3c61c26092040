"""The streaming tests' receivers listen on this machine's loopback: allowed explicitly here,
as an operator would (destinations reach only public addresses otherwise)."""

from __future__ import annotations

import pytest

from streaming.network import ALLOWED_NETWORKS_ENV

LOCAL_RECEIVERS = "127.0.0.0/8,::1/128"


@pytest.fixture(autouse=True)
def _local_receivers_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOWED_NETWORKS_ENV, LOCAL_RECEIVERS)


@pytest.fixture
def public_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network allowed: destinations reach public addresses only, the default."""
    monkeypatch.delenv(ALLOWED_NETWORKS_ENV)
