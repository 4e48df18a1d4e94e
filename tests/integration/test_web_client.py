"""The built-in web client in a real browser (headless Chromium through selenium).

One browser for the module; each test uses its own nicks and channels and starts
from an empty localStorage (a page logged in with the last test's account would
attach to its always-on person); a second browser, with a profile of its own, is a
second device. IRC peers are RawClients on the same server, driven in
the same event loop (selenium's blocking calls run in a thread). Screenshots at
desktop and phone widths go to test-results/ (git-ignored).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import HOST, REPO, ServerFactory, free_port, start_server
from tests.integration.support import aio, connect_registered, unique
from tests.integration.web_support import start_web_server, wait_for_port

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
RESULTS = REPO / "test-results"
DESKTOP = (1280, 800)
PHONE = (390, 844)
WAIT = 10.0

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None, reason="needs chromium and chromium-driver"
)


def new_browser() -> Any:
    """Headless Chromium with a fresh profile (its own localStorage: one device)."""
    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    driver = new_browser()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    factory = ServerFactory(tmp_path_factory.mktemp("webclient"))
    try:
        port = start_web_server(factory, {"history": {"private": True}})
        yield factory.servers[0].port, port
    finally:
        problems = factory.close()
        assert not problems, problems


# Every origin a page was opened at, so that its storage can be emptied between tests.
ORIGINS: set[str] = set()


def forget(driver: Any) -> None:
    """Close the page (nothing of it runs on to write storage) and empty the
    storage of every origin opened: the next test starts as a new browser."""
    driver.get("about:blank")
    for origin in ORIGINS:
        driver.execute_cdp_cmd(
            "Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"}
        )


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """The browser, at desktop size, with nothing remembered from the test before."""
    forget(browser)
    browser.set_window_size(*DESKTOP)
    yield browser
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    forget(browser)
    # A reconnecting page logs its failed WebSocket attempts; anything else is a bug.
    assert not [e for e in severe if "WebSocket connection" not in e["message"]], severe


def screenshot(driver: Any, name: str) -> None:
    RESULTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(RESULTS / f"{name}.png"))


async def call(fn: Callable[..., Any], *args: Any) -> Any:
    """A blocking selenium call, off the event loop so RawClients keep reading."""
    return await asyncio.to_thread(fn, *args)


async def until(check: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await call(check)
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.1)


def log_text(driver: Any) -> str:
    return str(
        driver.execute_script(
            "return document.querySelector('.log:not([hidden])')?.innerText || ''"
        )
    )


def send(driver: Any, text: str) -> None:
    box = driver.find_element(By.ID, "input")
    box.send_keys(text)
    driver.find_element(By.CSS_SELECTOR, "#input-form button").click()


def open_page(driver: Any, port: int, query: str = "") -> None:
    """Open the client and wait for its module to have run: `driver.get` returns at
    the load event, which a module script may still follow on a busy machine."""
    ORIGINS.add(f"http://{HOST}:{port}")
    driver.get(f"http://{HOST}:{port}/{query}")
    deadline = time.monotonic() + WAIT
    while not driver.execute_script("return typeof window.ircpsyc === 'object'"):
        if time.monotonic() > deadline:
            logs = driver.get_log("browser")
            raise AssertionError(f"the web client did not start within {WAIT}s: {logs}")
        time.sleep(0.05)


def badges(driver: Any) -> list[str]:
    """The unread counts shown in the conversation list."""
    return [b.text for b in driver.find_elements(By.CSS_SELECTOR, ".buffers .badge") if b.text]


async def register_in_page(driver: Any, nick: str, password: str) -> None:
    """Register the page's nick with the account dialog; logged in at once."""
    await call(lambda: driver.find_element(By.ID, "b-account").click())
    await call(lambda: driver.find_element(By.ID, "a-password").send_keys(password))
    await call(lambda: driver.find_element(By.ID, "a-go").click())
    await until(
        lambda: driver.find_element(By.ID, "b-account").text == f"Account: {nick}",
        "registered",
        timeout=20,
    )


@aio
async def test_join_by_url_history_and_lines_both_ways(page: Any, web: tuple[int, int]) -> None:
    irc_port, web_port = web
    channel = "#" + unique("hist")
    peer = await connect_registered(irc_port, unique("peer"))
    await peer.send(f"JOIN {channel}")
    await peer.expect("366")
    await peer.send(*(f"PRIVMSG {channel} :earlier line {i}" for i in range(3)))
    await peer.sync()
    nick = unique("web")
    await call(open_page, page, web_port, f"?nick={nick}&channels=%23{channel[1:]}")
    join = await peer.expect("JOIN")
    assert join.source is not None and join.source.startswith(nick + "!")
    # History on join, in order, in the channel's window, which is the one shown.
    await until(lambda: "earlier line 2" in log_text(page), "history on join")
    text = log_text(page)
    assert text.index("earlier line 0") < text.index("earlier line 2")
    assert page.find_element(By.ID, "title").text == channel
    await call(send, page, "hello from a browser")
    said = await peer.expect("PRIVMSG")
    assert said.params == [channel, "hello from a browser"]
    # A long paste goes out as several lines that each fit in 512 bytes.
    long = " ".join(f"w\u00e9rd{i}" for i in range(150))
    await call(send, page, long)
    parts: list[str] = []
    while len(" ".join(parts)) < len(long):
        parts.append((await peer.expect("PRIVMSG")).params[1])
    assert " ".join(parts) == long and len(parts) > 1
    assert all(len(p.encode()) <= 400 for p in parts)
    await peer.send(f"PRIVMSG {channel} :\x02bold\x02 and \x0304red\x03 for {nick}")
    await until(lambda: "bold and red" in log_text(page), "a line from IRC")
    bold = page.find_elements(By.CSS_SELECTOR, ".log:not([hidden]) .text .b")
    assert bold and bold[-1].text == "bold"
    assert page.find_elements(By.CSS_SELECTOR, ".log:not([hidden]) .text .c4")
    assert page.find_elements(By.CSS_SELECTOR, ".log:not([hidden]) .msg.highlight")
    members = await call(lambda: page.find_element(By.ID, "member-list").text)
    assert peer.nick in members and nick in members
    # The keyboard alone: Tab completes a nick, Alt+Down goes to the next conversation.
    box = page.find_element(By.ID, "input")
    await call(box.send_keys, peer.nick[:4], Keys.TAB, "ping")
    assert box.get_attribute("value") == f"{peer.nick}: ping"
    await call(box.send_keys, Keys.ENTER)
    said = await peer.expect("PRIVMSG")
    assert said.params == [channel, f"{peer.nick}: ping"]
    # A private message opens a conversation with an unread count.
    await peer.send(f"PRIVMSG {nick} :psst, private")
    badge = await until(
        lambda: [b.text for b in page.find_elements(By.CSS_SELECTOR, ".buffers .badge") if b.text],
        "an unread badge",
    )
    assert badge == ["1"]
    await call(screenshot, page, "desktop")
    await call(page.find_element(By.ID, "input").send_keys, Keys.ALT, Keys.ARROW_DOWN)
    await until(lambda: page.find_element(By.ID, "title").text == peer.nick, "Alt+Down")
    assert "psst, private" in log_text(page)
    # The channel list: LIST in a dialog, with a Join button per channel.
    await call(lambda: page.find_element(By.ID, "b-list").click())
    await until(lambda: channel in page.find_element(By.ID, "channel-list").text, "LIST")
    await call(lambda: page.find_element(By.CSS_SELECTOR, "#list-dialog menu button").click())
    # In the background, a mention or a private message notifies; other lines do not.
    page.execute_script(
        """
        window.notes = [];
        Object.defineProperty(document, "hidden", { get: () => true, configurable: true });
        window.Notification = function (title, options) {
          window.notes.push([title, options.body]);
          this.close = () => {};
        };
        window.Notification.permission = "granted";
        """
    )
    await peer.send(
        f"PRIVMSG {channel} :just chatting",
        f"PRIVMSG {channel} :{nick}, look here",
        f"PRIVMSG {nick} :and a private one",
    )
    await until(lambda: len(page.execute_script("return window.notes")) >= 2, "notes")
    notes = page.execute_script("return window.notes")
    assert notes == [
        [f"{peer.nick} in {channel}", f"{nick}, look here"],
        [peer.nick, "and a private one"],
    ]


@aio
async def test_nothing_users_send_runs_as_markup(page: Any, web: tuple[int, int]) -> None:
    irc_port, web_port = web
    channel = "#" + unique("xss")
    peer = await connect_registered(irc_port, unique("evil"))
    await peer.send(f"JOIN {channel}")
    await peer.expect("366")
    await peer.send(f"TOPIC {channel} :<img src=x onerror=\"window.pwned='topic'\">")
    await peer.sync()
    nick = unique("victim")
    await call(open_page, page, web_port, f"?nick={nick}&channels=%23{channel[1:]}")
    await peer.expect("JOIN")
    attacks = [
        "<script>window.pwned='script'</script>",
        "<img src=x onerror=\"window.pwned='img'\">",
        "javascript:window.pwned='link' click me",
        "see http://ok.example/a?b=<c> and javascript://x.example/%0Aalert(1)",
        "\x0304,01<b>\x0f\x02</span><svg onload=\"window.pwned='svg'\">",
        "\x01ACTION <iframe src=\"javascript:window.pwned='iframe'\">\x01",
    ]
    await peer.send(*(f"PRIVMSG {channel} :{a}" for a in attacks))
    await until(lambda: "<iframe" in log_text(page), "the attack lines")
    await asyncio.sleep(0.3)
    assert page.execute_script("return window.pwned === undefined")
    for tag in ("script", "img", "svg", "iframe"):
        assert not page.find_elements(By.CSS_SELECTOR, f"#logs {tag}, #topic {tag}"), tag
    hrefs = [a.get_attribute("href") for a in page.find_elements(By.CSS_SELECTOR, "#logs a")]
    assert hrefs and all(h.startswith(("http://", "https://")) for h in hrefs), hrefs
    text = log_text(page)
    assert "<script>window.pwned='script'</script>" in text
    assert "<img src=x onerror=" in page.find_element(By.ID, "topic").get_attribute("textContent")


@aio
async def test_register_then_log_in_again(page: Any, web: tuple[int, int]) -> None:
    _, web_port = web
    nick = unique("reg")
    await call(open_page, page, web_port, f"?nick={nick}")
    await until(lambda: page.find_element(By.ID, "status").text == "connected", "connected")
    await call(lambda: page.find_element(By.ID, "b-account").click())
    await call(lambda: page.find_element(By.ID, "a-password").send_keys("correct horse 42"))
    await call(lambda: page.find_element(By.ID, "a-go").click())
    await until(
        lambda: page.find_element(By.ID, "b-account").text == f"Account: {nick}",
        "registered and logged in",
        timeout=20,
    )
    # Leave, come back to the bare page: the form remembers nick and login.
    await call(lambda: page.find_element(By.ID, "b-quit").click())
    await until(lambda: page.find_element(By.ID, "f-nick").is_displayed(), "the connect form")
    assert page.find_element(By.ID, "f-nick").get_attribute("value") == nick
    await call(lambda: page.find_element(By.ID, "f-go").click())
    await until(
        lambda: page.find_element(By.ID, "b-account").text == f"Account: {nick}",
        "logged in by SASL",
        timeout=20,
    )
    await call(screenshot, page, "registered")


@aio
async def test_phone_layout(page: Any, web: tuple[int, int]) -> None:
    _, web_port = web
    await call(page.set_window_size, *PHONE)
    channel = unique("phone")
    await call(open_page, page, web_port, f"?nick={unique('ph')}&channels=%23{channel}")
    await until(lambda: page.find_element(By.ID, "title").text == f"#{channel}", "joined")
    await call(send, page, "typing on a phone")
    await until(lambda: "typing on a phone" in log_text(page), "own line")
    width = page.execute_script("return document.documentElement.clientWidth")
    rect = "return document.getElementById('sidebar').getBoundingClientRect()"
    side = page.execute_script(rect)
    assert side["right"] <= 0, "the conversation list is off screen on a phone"
    box = page.execute_script("return document.getElementById('input').getBoundingClientRect()")
    assert box["right"] <= width and box["width"] > width / 2
    no_scroll = "return document.documentElement.scrollWidth <= innerWidth"
    assert page.execute_script(no_scroll), "no sideways scrolling"
    await call(screenshot, page, "phone")
    await call(lambda: page.find_element(By.ID, "b-menu").click())
    await asyncio.sleep(0.3)
    side = page.execute_script(rect)
    assert side["left"] >= 0 and side["right"] > 100
    await call(screenshot, page, "phone-menu")
    # The dark theme follows the system's preference.
    dark = {"features": [{"name": "prefers-color-scheme", "value": "dark"}]}
    await call(page.execute_cdp_cmd, "Emulation.setEmulatedMedia", dark)
    try:
        await call(lambda: page.find_element(By.ID, "input").send_keys(Keys.ESCAPE))
        await asyncio.sleep(0.3)
        side = page.execute_script(rect)
        assert side["right"] <= 0, "Escape closes the list"
        background = page.execute_script("return getComputedStyle(document.body).backgroundColor")
        red, green, blue = (int(x) for x in background[background.index("(") + 1 : -1].split(","))
        assert red + green + blue < 150, background
        await call(screenshot, page, "phone-dark")
    finally:
        await call(page.execute_cdp_cmd, "Emulation.setEmulatedMedia", {"features": []})


@aio
async def test_reconnects_after_server_restart(page: Any, tmp_path: Path) -> None:
    web_port = free_port()
    extra = {"listen": {"web": [f"{HOST}:{web_port}"]}}
    server = start_server(tmp_path / "restart", extra)
    try:
        wait_for_port(web_port)
        channel = "#" + unique("back")
        nick = unique("again")
        await call(open_page, page, web_port, f"?nick={nick}&channels=%23{channel[1:]}")
        await until(lambda: page.find_element(By.ID, "title").text == channel, "joined")
        server.stop()
        await until(lambda: "retrying" in page.find_element(By.ID, "status").text, "noticed")
        server = start_server(tmp_path / "restart", extra)
        peer = await connect_registered(server.port, unique("peer"))
        await peer.send(f"JOIN {channel}", f"PRIVMSG {channel} :said while you were away")
        await peer.expect("366")
        await until(
            lambda: "said while you were away" in log_text(page), "missed line", timeout=WAIT + 20
        )
        await peer.send(f"PRIVMSG {channel} :and after")
        await until(lambda: "and after" in log_text(page), "live line after reconnect")
    finally:
        server.stop()


@aio
async def test_come_back_and_see_what_was_said(page: Any, web: tuple[int, int]) -> None:
    """The issue's story: a registered user closes the tab and stays online (always-on,
    shown away), others talk (a mention in the channel, a private message), and opening
    the page again shows the missed lines after a "new since you left" line, once, and
    the private conversation as unread."""
    irc_port, web_port = web
    channel = "#" + unique("away")
    nick = unique("leaver")
    peer = await connect_registered(irc_port, unique("peer"), caps=["away-notify"])
    await peer.send(f"JOIN {channel}", f"PRIVMSG {channel} :before you came")
    await peer.expect("366")
    await call(open_page, page, web_port, f"?nick={nick}&channels=%23{channel[1:]}")
    await until(lambda: "before you came" in log_text(page), "history")
    await peer.expect("JOIN")
    await register_in_page(page, nick, "a fine password")
    await call(page.get, "about:blank")  # the tab is closed
    # Always-on: the person stays in the channel, away, and does not quit.
    away = await peer.expect("AWAY", where=lambda m: str(m.source).startswith(nick + "!"))
    assert away.params, "shown away"
    await peer.send(f"WHOIS {nick}")
    whois = await peer.collect("318")
    assert [m.params[1] for m in whois if m.command == "301"] == [nick]
    assert any(m.command == "319" and channel in m.params[-1] for m in whois)
    await peer.send(f"PRIVMSG {channel} :{nick}: while you were gone", f"PRIVMSG {nick} :psst")
    await peer.sync()
    await call(open_page, page, web_port)
    await until(lambda: page.find_element(By.ID, "f-nick").is_displayed(), "the connect form")
    assert channel in page.find_element(By.ID, "f-channels").get_attribute("value")
    await call(lambda: page.find_element(By.ID, "f-go").click())
    # The browser logs in as this device and attaches to the person: back, not away.
    back = await peer.expect("AWAY", where=lambda m: str(m.source).startswith(nick + "!"))
    assert back.params == []
    await until(lambda: "while you were gone" in log_text(page), "the missed line", timeout=20)
    await until(lambda: "new since you left" in log_text(page), "the marker")
    await asyncio.sleep(0.5)  # the history and the away log's replay have both arrived
    text = log_text(page)
    assert text.index("before you came") < text.index("new since you left")
    assert text.index("new since you left") < text.index("while you were gone")
    assert text.count("while you were gone") == 1  # the away log and history agree
    assert text.count("new since you left") == 1
    assert await until(lambda: badges(page), "the private message as unread") == ["1"]
    assert not [m for m in peer.history if m.command == "QUIT"]
    await call(screenshot, page, "come-back")
    await call(page.set_window_size, *PHONE)  # the hidden list's count is on its button
    assert page.find_element(By.ID, "b-menu").get_attribute("data-unread") == "1"
    await call(screenshot, page, "come-back-phone")


@aio
async def test_two_devices_of_one_account(page: Any, web: tuple[int, int]) -> None:
    """A laptop and a phone (two browsers, each its own storage) logged in to one
    account are one person: the second attaches with the person's nick and channels
    (whatever nick its URL asked for), joins the channel it asked for on both, each
    shows what the other says, and reading on one clears the unread count on the other."""
    irc_port, web_port = web
    channel = "#" + unique("team")
    extra = "#" + unique("more")
    nick = unique("duo")
    peer = await connect_registered(irc_port, unique("peer"))
    await peer.send(f"JOIN {channel}")
    await peer.expect("366")
    await call(open_page, page, web_port, f"?nick={nick}&channels=%23{channel[1:]}")
    await until(lambda: page.find_element(By.ID, "title").text == channel, "joined")
    await peer.expect("JOIN")
    await register_in_page(page, nick, "two devices here")
    phone = await call(new_browser)
    try:
        # The phone remembers the login (as after an earlier visit) and is opened with
        # another nick and another channel in its URL.
        await call(open_page, phone, web_port)
        settings = {"account": nick, "password": "two devices here", "nick": nick}
        phone.execute_script(
            "localStorage.setItem('ircpsyc.settings', arguments[0])", json.dumps(settings)
        )
        await call(open_page, phone, web_port, f"?nick={nick}phone&channels=%23{extra[1:]}")
        await until(lambda: phone.execute_script("return ircpsyc.state.nick") == nick, "nick")
        names = "return [...document.querySelectorAll('.buffers .name')].map(e => e.textContent)"
        await until(lambda: {channel, extra} <= set(phone.execute_script(names)), "channels")
        # The channel its URL asked for is the one shown, and the person's: the laptop
        # is in it too.
        await until(lambda: phone.find_element(By.ID, "title").text == extra, "asked, shown")
        await until(lambda: extra in page.execute_script(names), "the laptop joins too")
        assert await call(page.execute_script, "return ircpsyc.state.nick") == nick
        device = phone.execute_script("return localStorage.getItem('ircpsyc.device')")
        assert device and device.startswith("web-")
        assert device != page.execute_script("return localStorage.getItem('ircpsyc.device')")
        # NAMES shows the person once; no second nick came in.
        await peer.send(f"NAMES {channel}")
        names_line = await peer.expect("353")
        assert names_line.params[-1].split().count(nick) == 1
        assert not [
            m for m in peer.history if m.command == "JOIN" and nick + "phone" in str(m.source)
        ]

        async def show(driver: Any, name: str) -> None:
            labels = driver.find_elements(By.CSS_SELECTOR, ".buffers .name")
            [label] = [e for e in labels if e.text == name]
            await call(label.click)
            await until(lambda: driver.find_element(By.ID, "title").text == name, name)

        await show(phone, channel)
        await show(page, channel)
        await call(send, page, "from the laptop")
        said = await peer.expect("PRIVMSG")
        assert said.params == [channel, "from the laptop"]
        await until(lambda: "from the laptop" in log_text(phone), "laptop's line on the phone")
        await call(send, phone, "from the phone")
        said = await peer.expect("PRIVMSG")
        assert said.params == [channel, "from the phone"]
        assert str(said.source).startswith(nick + "!")
        await until(lambda: "from the phone" in log_text(page), "phone's line on the laptop")
        # Its own line shows on the phone once, when the server echoes it.
        await until(lambda: "from the phone" in log_text(phone), "phone's own line")
        await asyncio.sleep(0.3)
        for driver in (page, phone):
            assert log_text(driver).count("from the phone") == 1, log_text(driver)
        # A private line is unread on both; reading it on the phone reads it everywhere.
        await peer.send(f"PRIVMSG {nick} :are you there?")
        for driver in (page, phone):
            assert await until(lambda d=driver: badges(d), "unread on both") == ["1"]
        await show(phone, peer.nick)
        assert "are you there?" in log_text(phone)
        await until(lambda: badges(page) == [], "read on the laptop too")
        await call(screenshot, phone, "second-device")
        # Leaving a channel on one device leaves it on all.
        await show(phone, extra)
        await call(send, phone, "/part")
        # Each device gets the PART from the server, in no set order between them.
        await until(lambda: extra not in page.execute_script(names), "parted on the laptop")
        await until(lambda: extra not in phone.execute_script(names), "parted on the phone")
        assert extra not in page.execute_script("return ircpsyc.state.channels")
    finally:
        await call(forget, phone)
        await call(phone.quit)


@aio
async def test_op_buttons_and_scroll_up_for_more_history(page: Any, web: tuple[int, int]) -> None:
    irc_port, web_port = web
    channel = "#" + unique("ops")
    nick = unique("chief")
    await call(open_page, page, web_port, f"?nick={nick}&channels=%23{channel[1:]}")
    await until(lambda: page.find_element(By.ID, "title").text == channel, "joined")
    peer = await connect_registered(irc_port, unique("peer"))
    pest = await connect_registered(irc_port, unique("pest"))
    for client in (peer, pest):
        await client.send(f"JOIN {channel}")
        await client.expect("366")
    # The channel's creator is its op: the member buttons give ranks and kick.
    await until(lambda: pest.nick in page.find_element(By.ID, "member-list").text, "members")

    async def act(member: str, action: str) -> None:
        buttons = page.find_elements(By.CSS_SELECTOR, "#member-list button")
        [target] = [b for b in buttons if b.text.endswith(member)]
        if target.get_attribute("aria-pressed") != "true":
            await call(target.click)
        await call(lambda: page.find_element(By.CSS_SELECTOR, f"[data-act={action}]").click())

    await act(peer.nick, "voice")
    mode = await peer.expect("MODE")
    assert mode.params == [channel, "+v", peer.nick]
    await until(lambda: "+" + peer.nick in page.find_element(By.ID, "member-list").text, "+v")
    await act(pest.nick, "kick")
    kick = await peer.expect("KICK")
    assert kick.params[:2] == [channel, pest.nick]
    await call(send, page, f"/topic Ops are {nick}")
    topic = await peer.expect("TOPIC")
    assert topic.params == [channel, f"Ops are {nick}"]
    await until(lambda: page.find_element(By.ID, "topic").text == f"Ops are {nick}", "topic")

    # 120 lines (flood control is low in tests: slow bursts); a fresh page gets the
    # latest 50, and scrolling up brings the earlier ones, in order.
    for start in range(0, 120, 15):
        await peer.send(*(f"PRIVMSG {channel} :old line {i:03}" for i in range(start, start + 15)))
        await asyncio.sleep(1.6)
    await until(lambda: "old line 119" in log_text(page), "the live lines", timeout=20)
    await call(page.refresh)
    await until(lambda: "old line 119" in log_text(page), "history on join")
    count = "return document.querySelectorAll('.log:not([hidden]) .msg').length"
    first = page.execute_script(count)
    assert "old line 000" not in log_text(page)
    for _ in range(20):
        page.execute_script("document.querySelector('.log:not([hidden])').scrollTop = 0")
        await asyncio.sleep(0.3)
        if "old line 000" in log_text(page):
            break
    assert "old line 000" in log_text(page)
    assert page.execute_script(count) > first
    text = log_text(page)
    assert text.index("old line 000") < text.index("old line 060") < text.index("old line 119")
