"""The chat across processes: two Daphnes and a worker on one private RabbitMQ."""

from __future__ import annotations

import asyncio
import urllib.request

from .client import ChatClient, message
from .conftest import ChatSite
from .processes import Uvicorn, manage


async def test_broadcast_reaches_clients_on_both_daphnes(chat_site: ChatSite) -> None:
    """A message said on Daphne 1 reaches the room on Daphne 1 and on Daphne 2."""
    d1, d2 = chat_site.daphnes
    alice = await ChatClient.join(d1.ws_url("lobby", "alice"))
    bob = await ChatClient.join(d2.ws_url("lobby", "bob"))
    try:
        assert alice.welcome["server"] != bob.welcome["server"]
        await alice.say("hello from 1")
        await alice.expect(message("hello from 1"))
        assert (await bob.expect(message("hello from 1")))["user"] == "alice"
        await bob.say("hello from 2")
        assert (await alice.expect(message("hello from 2")))["user"] == "bob"
    finally:
        await alice.close()
        await bob.close()


async def test_room_spans_daphne_and_uvicorn_on_uvloop(chat_site: ChatSite) -> None:
    """The same project served by uvicorn on uvloop joins the room on Daphne: broadcasts
    and a whisper cross between the two servers both ways."""
    d1, _d2 = chat_site.daphnes
    uvicorn = Uvicorn("uvicorn", chat_site.env, chat_site.log_dir)
    uvicorn.start()
    try:
        alice = await ChatClient.join(d1.ws_url("mixed", "alice"))
        bob = await ChatClient.join(uvicorn.ws_url("mixed", "bob"))
        try:
            assert bob.welcome["server"] == uvicorn.pid
            await bob.say("from uvicorn")
            assert (await alice.expect(message("from uvicorn")))["user"] == "bob"
            await alice.say("from daphne")
            assert (await bob.expect(message("from daphne")))["user"] == "alice"
            await alice.send(action="whisper", to="bob", text="psst")
            assert (await bob.expect(lambda f: f["type"] == "chat.whisper"))["text"] == "psst"
        finally:
            await alice.close()
            await bob.close()
    finally:
        uvicorn.stop()
    assert "Traceback" not in uvicorn.log_path.read_text(errors="replace")


async def test_rooms_are_separate(chat_site: ChatSite) -> None:
    """A message said in one room is not delivered in another (checked by what comes next)."""
    d1, _d2 = chat_site.daphnes
    alice = await ChatClient.join(d1.ws_url("red", "alice"))
    bob = await ChatClient.join(d1.ws_url("blue", "bob"))
    try:
        await alice.say("only red")
        await alice.expect(message("only red"))  # in the shared inbox of Daphne 1 by now
        await bob.say("only blue")
        # Had the red message leaked to Bob, it would come before his own.
        assert (await bob.next_frame())["text"] == "only blue"
    finally:
        await alice.close()
        await bob.close()


async def test_whisper_reaches_every_tab_of_one_user_only(chat_site: ChatSite) -> None:
    """A whisper goes to the user's group: both of Bob's tabs, on different Daphnes, get it;
    Carol, in the same room, does not."""
    d1, d2 = chat_site.daphnes
    alice = await ChatClient.join(d1.ws_url("lobby", "alice"))
    bob_tab1 = await ChatClient.join(d1.ws_url("lobby", "bob"))
    bob_tab2 = await ChatClient.join(d2.ws_url("lobby", "bob"))
    carol = await ChatClient.join(d2.ws_url("lobby", "carol"))
    try:
        await alice.send(action="whisper", to="bob", text="psst")
        await alice.say("after the whisper")
        for tab in (bob_tab1, bob_tab2):
            whisper = await tab.next_frame()
            assert whisper == {"type": "chat.whisper", "from": "alice", "to": "bob",
                               "text": "psst"}
        # Carol's inbox is the same queue as Bob's tab 2: had she got the whisper, it would
        # come before the room message Alice sent after it.
        assert (await carol.next_frame())["text"] == "after the whisper"
    finally:
        for client in (alice, bob_tab1, bob_tab2, carol):
            await client.close()


async def test_task_round_trip_through_the_worker(chat_site: ChatSite) -> None:
    """A task sent from either Daphne is computed by the worker process and answered on the
    asking websocket only."""
    assert chat_site.worker is not None
    d1, d2 = chat_site.daphnes
    first = await ChatClient.join(d1.ws_url("tasks", "ann"))
    second = await ChatClient.join(d2.ws_url("tasks", "ben"))
    try:
        await first.send(action="task", n=12)
        await second.send(action="task", n=7)
        done = await first.expect(lambda f: f["type"] == "task.done")
        assert (done["n"], done["result"], done["worker"]) == (12, 144, chat_site.worker.pid)
        assert (await second.expect(lambda f: f["type"] == "task.done"))["result"] == 49
    finally:
        await first.close()
        await second.close()


async def test_bad_commands_get_an_error_frame(chat_site: ChatSite) -> None:
    """Invalid input is answered, not dropped and not fatal to the socket."""
    client = await ChatClient.join(chat_site.daphnes[0].ws_url("lobby", "dave"))
    try:
        await client.send(action="dance")
        assert "unknown action" in (await client.next_frame())["error"]
        await client.send(action="task", n="seven")
        assert "n must be an integer" in (await client.next_frame())["error"]
        await client.say("still here")
        await client.expect(message("still here"))
    finally:
        await client.close()


async def test_sync_django_view_broadcasts_to_websockets(chat_site: ChatSite) -> None:
    """A plain sync view publishing with amqp_channels.sync reaches the room's clients on
    both Daphnes (the view runs in Daphne 1; Django serves it in a thread, no event loop)."""
    d1, d2 = chat_site.daphnes
    alice = await ChatClient.join(d1.ws_url("news", "alice"))
    bob = await ChatClient.join(d2.ws_url("news", "bob"))
    try:
        def post() -> int:
            request = urllib.request.Request(d1.http_url + "announce/news/",
                                             data=b"from a sync view", method="POST")
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)

        assert await asyncio.to_thread(post) == 200
        for client in (alice, bob):
            frame = await client.expect(message("from a sync view"))
            assert frame["user"] == "server"
    finally:
        await alice.close()
        await bob.close()


def test_the_chat_page_is_served(chat_site: ChatSite) -> None:
    """``/`` is the browser client: a Django view and template under Daphne."""
    with urllib.request.urlopen(chat_site.daphnes[0].http_url, timeout=10) as response:
        page = response.read().decode()
    assert "new WebSocket(" in page and "/ws/chat/" in page


def test_deploy_check_passes_against_the_running_broker(chat_site: ChatSite) -> None:
    """``manage.py check --deploy`` with the project's environment finds the broker usable."""
    result = manage("check", "--deploy", "--tag", "amqp_channels", env=chat_site.env)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_deploy_check_fails_on_a_wrong_password(chat_site: ChatSite) -> None:
    """The same command fails with E002 and one clear line when the login is refused."""
    env = {**chat_site.env, "AMQP_URL": chat_site.node.url.replace("guest:guest", "guest:x")}
    result = manage("check", "--deploy", "--tag", "amqp_channels", env=env)
    assert result.returncode == 1
    assert "amqp_channels.E002" in result.stderr
    assert "refused the login of user 'guest'" in result.stderr
