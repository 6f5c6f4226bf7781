"""amqps:// with the `ssl` CONFIG key, against a broker with a TLS listener."""

from __future__ import annotations

import ssl

import pytest

from amqp_channels import BrokerUnavailable
from tests.conftest import LayerFactory
from tests.helpers import receive

pytestmark = pytest.mark.slow


def _url(node) -> str:
    return f"amqps://guest:guest@localhost:{node.tls_port}/"


@pytest.mark.uvloop
async def test_amqps_with_a_ca_file_dict(tls_rabbitmq, make_layer: LayerFactory) -> None:
    """ssl={'cafile': ...} verifies the broker's certificate and the layer works over TLS."""
    layer = make_layer(hosts=[_url(tls_rabbitmq)], ssl={"cafile": str(tls_rabbitmq.ca_file)})
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "secure"})
    await layer.send("tls-normal", {"type": "secure-normal"})
    assert (await receive(layer, channel))["type"] == "secure"
    assert (await receive(layer, "tls-normal"))["type"] == "secure-normal"


async def test_amqps_with_an_ssl_context(tls_rabbitmq, make_layer: LayerFactory) -> None:
    """An ssl.SSLContext works as the ssl value too."""
    context = ssl.create_default_context(cafile=str(tls_rabbitmq.ca_file))
    layer = make_layer(hosts=[_url(tls_rabbitmq)], ssl=context)
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "ctx"})
    assert (await receive(layer, channel))["type"] == "ctx"


async def test_untrusted_certificate_is_refused(tls_rabbitmq, make_layer: LayerFactory
                                                ) -> None:
    """Without the CA, certificate verification fails and the error says so, in time."""
    layer = make_layer(hosts=[_url(tls_rabbitmq)], connect_timeout=2)
    with pytest.raises(BrokerUnavailable, match=r"(?i)certificate"):
        await layer.new_channel()
