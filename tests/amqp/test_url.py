"""URL parsing: the rules users rely on when writing ``amqp://`` URLs."""

from __future__ import annotations

import pytest

from amqp_channels.amqp.url import parse_url


@pytest.mark.parametrize(("url", "vhost"), [
    pytest.param("amqp://h", "/", id="no-path"),
    pytest.param("amqp://h/", "/", id="bare-slash"),
    pytest.param("amqp://h/%2F", "/", id="encoded-slash"),
    pytest.param("amqp://h/prod", "prod", id="named"),
    pytest.param("amqp://h/a%2Fb", "a/b", id="encoded-inside"),
])
def test_vhost_comes_from_the_decoded_path(url: str, vhost: str) -> None:
    """The vhost is the URL-decoded path, "/" by default."""
    assert parse_url(url, heartbeat=30).vhost == vhost


def test_credentials_are_url_decoded() -> None:
    """Users percent-encode special characters in user and password."""
    params = parse_url("amqp://us%40r:p%3Ass@h:5999/", heartbeat=30)
    assert (params.username, params.password, params.port) == ("us@r", "p:ss", 5999)


def test_amqps_defaults_to_tls_port() -> None:
    params = parse_url("amqps://h", heartbeat=30)
    assert params.tls and params.port == 5671


def test_heartbeat_query_overrides_argument() -> None:
    assert parse_url("amqp://h/?heartbeat=7", heartbeat=30).heartbeat == 7


@pytest.mark.parametrize("url", [
    pytest.param("http://h/", id="wrong-scheme"),
    pytest.param("amqp://h/?heartbeat=soon", id="bad-heartbeat"),
])
def test_invalid_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_url(url, heartbeat=30)
