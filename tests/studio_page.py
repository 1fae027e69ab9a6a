"""The studio in a real browser, for tests/test_studio.py: Debian's headless Chromium driven
by Selenium through Debian's chromedriver (`make test` installs both; nothing is downloaded),
and a page object that says what a user does ("open the Voices tab", "upload these files")
instead of repeating selectors in every test."""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait

DESKTOP = (1280, 1000)
PHONE = (390, 844)  # a phone's CSS pixels
WAIT_SECONDS = 300  # a generation on a slow 2-core machine with other tests' stacks around
KEY_STORAGE = "chatterbox-studio.api-key"  # studio/js/api.js


def chromium_driver() -> webdriver.Chrome:
    """Headless Chromium with a fake microphone (a tone; permission granted without asking)
    and autoplay allowed, so recording and playback run without a person."""
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and chromedriver, "Debian's chromium and chromium-driver are needed: `make test` installs them"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
        "--autoplay-policy=no-user-gesture-required", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream", "--lang=en-US",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(chromedriver))


class Studio:
    def __init__(self, driver: webdriver.Chrome, base_url: str, screenshots: Path) -> None:
        self.driver = driver
        self.base_url = base_url
        self.screenshots = screenshots

    # --- finding and waiting ------------------------------------------------------------

    def find(self, css: str, root: WebElement | None = None) -> WebElement:
        return (root or self.driver).find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str, root: WebElement | None = None) -> list[WebElement]:
        return (root or self.driver).find_elements(By.CSS_SELECTOR, css)

    def wait(self, condition: Callable[[], Any], message: str, seconds: float = WAIT_SECONDS) -> Any:
        """Polls `condition` until it returns something truthy (the answer), failing with
        `message`; an element replaced while it was read (a list re-rendered) is read again."""
        return WebDriverWait(self.driver, seconds, poll_frequency=0.2, ignored_exceptions=(AssertionError, StaleElementReferenceException)).until(lambda _: condition(), message)

    def wait_text(self, css: str, text: str, seconds: float = WAIT_SECONDS) -> WebElement:
        def shown() -> WebElement | None:
            element = self.find_all(css)
            return element[0] if element and text in element[0].text else None
        return self.wait(shown, f"{css} never said {text!r}", seconds)

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    # --- what a user does ---------------------------------------------------------------

    def open(self, key: str | None = None) -> None:
        """The page in a fresh tab session, with `key` already in its session storage (as
        after typing it once), ready to use."""
        self.driver.get(f"{self.base_url}/studio/")
        self.js("sessionStorage.clear(); if (arguments[0]) sessionStorage.setItem(arguments[1], arguments[0]);", key, KEY_STORAGE)
        self.driver.refresh()
        self.wait_ready()

    def wait_ready(self) -> None:
        self.wait(lambda: self.js("return document.body.dataset.ready === 'true'"), "the studio never finished setting up")

    def tab(self, name: str) -> WebElement:
        self.find(f"#tab-{name}").click()
        panel = self.find(f"#{name}")
        assert panel.is_displayed()
        return panel

    def row(self, kind: str, name: str) -> str:
        """The CSS of a voice's or an output's row."""
        return f"#{kind}-table tr[data-{kind}='{name}']"

    def search(self, kind: str, name: str) -> None:
        """Types `name` in the voice or output list's search and waits for the list to settle
        (not busy) with its row. The field is left first: leaving it sends `change`, which
        reloads the list, and a reload landing later would re-render a row mid-action (a
        Delete pressed once, waiting for its Confirm, is a new button again)."""
        self.fill(f"#{kind}-search", name)
        self.js(f"document.querySelector('#{kind}-search').blur()")
        self.wait(lambda: not self.find(f"#{kind}-table").get_attribute("aria-busy") and self.find_all(self.row(kind, name)), f"{name} is not listed")

    def press(self, css: str) -> None:
        """Clicks, again if the element was re-rendered in between."""
        self.wait(lambda: self.find(css).click() or True, f"{css} could not be pressed")

    def fill(self, css: str, value: str) -> None:
        field = self.find(css)
        field.clear()
        field.send_keys(value)

    def select(self, css: str, value: str) -> None:
        Select(self.find(css)).select_by_value(value)

    def drop_files(self, css: str, files: dict[str, bytes]) -> None:
        """Drops files on an element as a drag from the desktop does (a DataTransfer of Files)."""
        encoded = {name: base64.b64encode(data).decode() for name, data in files.items()}
        self.js(
            """const transfer = new DataTransfer();
            for (const [name, data] of Object.entries(arguments[1])) {
              const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
              transfer.items.add(new File([bytes], name));
            }
            document.querySelector(arguments[0]).dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true, cancelable: true}));""",
            css, encoded,
        )

    def audio_seconds(self, css: str) -> float:
        """The duration an <audio> element knows once its media is loaded (0 before)."""
        def known() -> float | None:
            duration = self.js("const a = document.querySelector(arguments[0]); return a.readyState >= 1 && isFinite(a.duration) ? a.duration : null;", css)
            return duration or None
        return self.wait(known, f"{css} never got a duration")

    def wait_playing(self, css: str) -> None:
        self.wait(lambda: self.js("const a = document.querySelector(arguments[0]); return !a.paused && a.currentTime > 0;", css), f"{css} never played")

    def field_error(self, control_css: str) -> str:
        """The error shown next to a control (the message its aria-describedby points at)."""
        return self.js(
            """const control = document.querySelector(arguments[0]);
            const ids = (control.getAttribute('aria-describedby') || '').split(' ');
            return ids.map((id) => document.getElementById(id)).filter((n) => n && n.classList.contains('field-error')).map((n) => n.textContent).join(' ');""",
            control_css,
        )

    def console_errors(self) -> list[str]:
        """The browser's errors since last asked (scripts, CSP), less refused API calls,
        which the page shows itself."""
        return [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE" and entry.get("source") != "network"]

    # --- screenshots --------------------------------------------------------------------

    @contextmanager
    def phone(self) -> Iterator[None]:
        """The page as a phone shows it: Chromium's device emulation at PHONE's size (a
        mobile viewport, overlay scrollbars), not merely a narrow desktop window."""
        width, height = PHONE
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True})
        try:
            yield
        finally:
            self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def screenshot(self, name: str) -> Path:
        """The whole page, beyond the window's height (Chromium's DevTools capture)."""
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        path = self.screenshots / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


def screenshot_folder(default: Path) -> Path:
    """Where the tests write their screenshots: STUDIO_SCREENSHOTS (docs/img/studio to
    refresh the documentation's pictures), else a temporary folder."""
    folder = Path(os.environ.get("STUDIO_SCREENSHOTS") or default)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
