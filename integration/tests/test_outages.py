"""The chat through failures: a Daphne process killed and restarted, the broker restarted.

These tests damage their module's site on purpose; ``chat_site`` is module-scoped, so each
test leaves the site running again (both Daphnes up, broker up) for the next one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from websockets.exceptions import ConnectionClosed

from .client import ChatClient, Frame, message
from .conftest import ChatSite

pytestmark = pytest.mark.slow

RECOVERY = 40.0  # seconds a recovery may take: reconnect backoff (<= 7.5 s), re-declares
ATTEMPT = 8.0  # one say: longer than the site's send_timeout (5 s), so errors arrive first
LISTEN = 3.0  # the listener: once the speaker heard itself, a delivery takes milliseconds
# After the broker is back: the layer's next reconnect comes within its capped backoff
# (5 s with jitter, <= 7.5 s), plus at most one say lost to a not yet re-bound inbox
# (LISTEN + 0.5 s): about 11 s at worst; measured 3.1-4.8 s (5 runs, 2 shared cores).
BACK_WITHIN = 15.0


async def say_until_heard(speaker: ChatClient, listener: ChatClient, label: str,
                          timeout: float = RECOVERY) -> float:
    """What a user does after an outage: say again until it gets through. Returns how long
    it took for ``listener`` to hear ``speaker``.

    An attempt may end three ways while the layer reconnects: an error frame (the speaker's
    process had no connection within ``send_timeout``), or silence (the message went out
    before the listener's process had re-bound its inbox: at-most-once, it is gone). Both
    are retried; only the overall ``timeout`` fails the test."""
    started = time.monotonic()
    async with asyncio.timeout(timeout):
        for attempt in range(1000):
            text = f"{label} {attempt}"
            await speaker.say(text)
            try:
                reply = await speaker.expect(heard_or_error(text), timeout=ATTEMPT)
                if reply["type"] != "error":
                    await listener.expect(message(text), timeout=LISTEN)
                    return time.monotonic() - started
                log(f"{label}: attempt {attempt}: {reply['error']}")
            except TimeoutError:
                log(f"{label}: attempt {attempt}: not heard in time")
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


def heard_or_error(text: str) -> Callable[[Frame], bool]:
    return lambda frame: frame.get("type") == "error" or frame.get("text") == text


def log(text: str) -> None:
    """A timestamped line in the captured output, shown when a test fails."""
    print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)


async def test_killed_daphne_does_not_disturb_the_other(chat_site: ChatSite) -> None:
    """Daphne 2 is SIGKILLed: its client is cut off, clients on Daphne 1 keep chatting, and
    after a restart on the same port a new client there is back in the room."""
    d1, d2 = chat_site.daphnes
    alice = await ChatClient.join(d1.ws_url("crash", "alice"))
    carol = await ChatClient.join(d1.ws_url("crash", "carol"))
    bob = await ChatClient.join(d2.ws_url("crash", "bob"))
    bob_again: ChatClient | None = None
    try:
        d2.kill()
        with pytest.raises(ConnectionClosed):
            await bob.next_frame()
        await alice.say("while 2 is down")
        await carol.expect(message("while 2 is down"))

        d2.start()  # same port, fresh process with a new inbox
        bob_again = await ChatClient.join(d2.ws_url("crash", "bob"))
        assert bob_again.welcome["server"] != bob.welcome["server"]
        await alice.say("welcome back")
        await bob_again.expect(message("welcome back"))
        await bob_again.say("glad to be back")
        await alice.expect(message("glad to be back"))
        await carol.expect(message("glad to be back"))
    finally:
        for client in (alice, carol, bob, bob_again):
            if client is not None:
                await client.close()


async def test_broker_restart_mid_session(chat_site: ChatSite) -> None:
    """RabbitMQ stops and starts while clients stay connected to both Daphnes: within
    seconds of its return, broadcasts and worker tasks flow again on the same sockets."""
    d1, d2 = chat_site.daphnes
    alice = await ChatClient.join(d1.ws_url("outage", "alice"))
    bob = await ChatClient.join(d2.ws_url("outage", "bob"))
    try:
        await alice.say("before")
        await bob.expect(message("before"))

        log("stop_app")
        await asyncio.to_thread(chat_site.node.stop_app)
        log("start_app")
        await asyncio.to_thread(chat_site.node.start_app)
        log("broker is back")

        took = await say_until_heard(alice, bob, "after restart")
        log(f"broadcast across Daphnes again {took:.1f}s after the broker was back")
        assert took < BACK_WITHIN, f"broadcasts flowed again only after {took:.1f}s"
        await say_until_heard(bob, alice, "and back")
        await alice.send(action="task", n=9)
        assert (await alice.expect(lambda f: f["type"] == "task.done"))["result"] == 81
    finally:
        await alice.close()
        await bob.close()
