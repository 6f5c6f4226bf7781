"""Every groups test runs twice: with a fanout exchange per group (the default), and with
member queues bound to the router directly (``group_exchanges=False``)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator

import pytest

from tests.conftest import LayerFactory, _layers


@pytest.fixture(params=[True, False], ids=["group-exchanges", "router-bindings"])
def group_exchanges(request: pytest.FixtureRequest) -> bool:
    return request.param


@pytest.fixture
async def make_layer(rabbitmq, prefix: str, group_exchanges: bool
                     ) -> AsyncIterator[LayerFactory]:
    async for factory in _layers(rabbitmq.url, prefix):
        yield functools.partial(factory, group_exchanges=group_exchanges)


@pytest.fixture
async def make_own_layer(own_rabbitmq, prefix: str, group_exchanges: bool
                         ) -> AsyncIterator[LayerFactory]:
    async for factory in _layers(own_rabbitmq.url, prefix):
        yield functools.partial(factory, group_exchanges=group_exchanges)
