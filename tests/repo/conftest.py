"""Fixtures of the repository tests: the stand-in Hub and GitHub token service (hub_standin)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hub_standin import GitHubState, HubState, running_github, running_hub


@pytest.fixture
def hub(request: pytest.FixtureRequest) -> Iterator[tuple[HubState, str]]:
    """A running stand-in Hub; its runtime stages come from the test's parameter (else RUNNING)."""
    state = HubState(list(getattr(request, "param", ["RUNNING"])))
    with running_hub(state) as endpoint:
        yield state, endpoint


@pytest.fixture
def github() -> Iterator[tuple[GitHubState, str]]:
    """A running stand-in of GitHub Actions' OIDC id-token service, and its request URL."""
    with running_github() as running:
        yield running
