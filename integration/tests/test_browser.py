"""The chat page in a real headless browser: Debian's chromium, driven by Selenium.

Two tabs load the page from two different Daphne processes, join the same room through the
page's own form, and each sees what the other says: page script, websocket, consumer, the
layer between the two processes and back.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import ChatSite

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT = 20.0
# Without the background-networking switches chromium tries to reach Google's services,
# which a closed network refuses, and the page load can stall behind them.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage")


def missing() -> str | None:
    """Why the browser cannot run here, or None."""
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        return (f"{CHROMIUM} and {CHROMEDRIVER} are needed: "
                "apt-get install chromium chromium-driver")
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[test]'"
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless chromium with a fresh profile; CI must have it, elsewhere it may skip."""
    reason = missing()
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the browser test must run on CI: {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chat-browser-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


class Tab:
    """One browser tab with the chat page, used through its form fields like a person."""

    def __init__(self, driver: Any, handle: str) -> None:
        self.driver = driver
        self.handle = handle

    def _focus(self) -> None:
        self.driver.switch_to.window(self.handle)

    def fill(self, field: str, text: str) -> None:
        from selenium.webdriver.common.by import By

        element = self.driver.find_element(By.ID, field)
        element.clear()
        element.send_keys(text)

    def submit(self, form: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(By.CSS_SELECTOR, f"#{form} button").click()

    def join(self, url: str, room: str, user: str) -> None:
        self._focus()
        self.driver.get(url)
        self.fill("room", room)
        self.fill("user", user)
        self.submit("join")
        self.wait_for(f"joined {room} as {user}")

    def say(self, text: str) -> None:
        self._focus()
        self.fill("text", text)
        self.submit("say")

    def wait_for(self, line: str) -> str:
        """The chat log once a line of it starts with ``line``; fails after WAIT seconds."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self._focus()
        log = self.driver.find_element(By.ID, "log")
        WebDriverWait(self.driver, WAIT).until(
            lambda _driver: any(shown.startswith(line) for shown in log.text.splitlines()),
            message=f"{line!r} not shown in {log.text!r}")
        return str(log.text)


def test_two_tabs_on_two_daphnes_chat_through_the_page(browser: Any, chat_site: ChatSite
                                                       ) -> None:
    """Ann's tab is served by Daphne 1, Ben's by Daphne 2; each sees the other's lines."""
    d1, d2 = chat_site.daphnes
    ann = Tab(browser, browser.current_window_handle)
    browser.switch_to.new_window("tab")
    ben = Tab(browser, browser.current_window_handle)

    ann.join(d1.http_url, "browsers", "ann")
    ben.join(d2.http_url, "browsers", "ben")
    ann_log = ann.wait_for("joined browsers as ann")
    ben_log = ben.wait_for("joined browsers as ben")
    # The welcome line names the server process: two different Daphnes.
    assert ann_log.split("(server ")[1] != ben_log.split("(server ")[1]

    ann.say("hello from tab one")
    ben.wait_for("ann: hello from tab one")
    ben.say("hello back from tab two")
    ann.wait_for("ben: hello back from tab two")
    ann.wait_for("ann: hello from tab one")  # and the room echoes to the sender too
