"""The end-user degradation banner in Debian's chromium, driven by Playwright: the demo PromptForge
page (``/``) with ``<degradation-banner>`` (``/static/degradation-banner.js``) reading ``/api/status``
from the real demo service, whose live model (the stand-in, on loopback) goes down and comes back.

Degrade on → banner with reason and a live countdown within 5 s; the page's calls meanwhile get
simulated answers, never an error page; emergency → emergency style; dismiss → gone (and back
when the reason changes); the countdown retries by itself; degrade off → gone. Screenshots are
taken at each state and the banner's text is read from the DOM at the same moment."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import pytest

from launch_control.protect.degrade import StoreBoard, clear_degraded, set_degraded
from launch_control.web.servers import ServerThread

pytestmark = pytest.mark.browser
TOKEN = "banner-test-token"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def unavailable(request: pytest.FixtureRequest, reason: str) -> None:
    root_conftest = request.config.pluginmanager.get_plugin(str(Path(__file__).parents[1] / "conftest.py"))
    root_conftest.unavailable(reason)


@pytest.fixture
def browser(request):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable(request, "playwright not installed (pip install -e '.[test]')")
    if not Path(CHROMIUM).exists():
        unavailable(request, "chromium not installed (bash scripts/test-services.sh)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def site(plan, sqlite_store):
    """The stand-in model and the demo service (canary v3.0.0) with the plan's degradation layer."""
    from launch_control.plane.demo.model import create_app as model_app
    from launch_control.plane.demo.service import create_app

    degradation = plan.degradation.model_copy(update={
        "circuit_breaker": plan.degradation.circuit_breaker.model_copy(update={"reset_timeout": 1.0}),
    })
    board = StoreBoard(sqlite_store)
    clear_degraded(board, None)
    with ServerThread(model_app(admin_token=TOKEN)) as model:
        service = create_app("v3.0.0", admin_token=TOKEN, model_url=model.url, model_timeout=2.0,
                             plan=plan.model_copy(update={"degradation": degradation}), store=sqlite_store,
                             board=board)
        with ServerThread(service) as server:
            yield server, model, board


def model_down(model, down: bool) -> None:
    response = httpx.put(model.url + "/admin/faults", json={"down": down}, timeout=5,
                         headers={"Authorization": f"Bearer {TOKEN}"})
    response.raise_for_status()


def test_banner_in_a_real_browser(browser, site, tmp_path):
    server, model, board = site
    script = httpx.get(server.url + "/static/degradation-banner.js", timeout=5)
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert "customElements.define(\"degradation-banner\"" in script.text and "import " not in script.text

    page = browser.new_page(viewport={"width": 1000, "height": 600})
    console_errors: list[str] = []
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))
    page.goto(server.url + "/")
    banner = page.locator("degradation-banner")
    page.wait_for_function("customElements.get('degradation-banner') !== undefined")
    assert banner.is_hidden()

    def shot(name: str) -> Path:
        path = tmp_path / f"banner-{name}.png"
        page.screenshot(path=str(path))
        assert path.stat().st_size > 2000
        return path

    # 1. the live model goes down; on-call marks the service degraded with a retry hint
    model_down(model, True)
    reason = "Live model outage: answers are simulated for now"
    set_degraded(board, reason, retry_after=6, actor="priya")
    started = time.monotonic()
    banner.wait_for(state="visible", timeout=5000)
    assert time.monotonic() - started < 5
    shot("degraded")
    assert page.locator("degradation-banner .reason").inner_text() == reason
    first = page.locator("degradation-banner .retry").inner_text()
    assert first.startswith("— retrying in ") and first.endswith(" s")
    page.wait_for_timeout(1300)
    second = page.locator("degradation-banner .retry").inner_text()
    assert int(second.split()[3]) < int(first.split()[3])  # the countdown is live
    assert banner.get_attribute("emergency") is None

    # 2. users keep working: the page's calls get simulated answers, never an error page
    page.fill("#prompt", "Summarise the launch plan")
    page.click("button[type=submit]")
    page.wait_for_function("document.getElementById('answer').dataset.mode === 'simulated'", timeout=10000)
    answer = page.inner_text("#answer")
    assert "simulated mode" in answer and "Summarise the launch plan" in answer
    assert page.title() == "PromptForge" and "error" not in answer.lower()
    shot("simulated-answer")

    # 3. emergency → the emergency style
    set_degraded(board, reason, retry_after=6, emergency=True, actor="priya")
    page.wait_for_function("document.querySelector('degradation-banner').hasAttribute('emergency')", timeout=5000)
    shot("emergency")
    assert page.locator("degradation-banner .reason").inner_text() == f"Emergency: {reason}"
    background = page.evaluate(
        "getComputedStyle(document.querySelector('degradation-banner').shadowRoot.querySelector('.bar'))"
        ".backgroundColor")
    assert background == "rgb(179, 38, 30)"
    assert page.locator("degradation-banner [role=alert]").count() == 1

    # 4. dismiss → gone, and it stays gone while the reason is the same ...
    page.click("degradation-banner .dismiss")
    assert banner.is_hidden()
    page.wait_for_timeout(2500)  # more than one poll
    assert banner.is_hidden()
    shot("dismissed")
    # ... and comes back when the reason changes
    set_degraded(board, "Rollback in progress: v3.0.0 → v2.9.0", retry_after=3, emergency=True, actor="priya")
    banner.wait_for(state="visible", timeout=5000)
    assert "Rollback in progress" in page.locator("degradation-banner .reason").inner_text()

    # 5. the model is back: the countdown runs out and the page retries by itself → a live answer
    model_down(model, False)
    calls_before = page.evaluate("window.promptforgeCalls.length")
    page.wait_for_function("document.getElementById('answer').dataset.mode === 'live'", timeout=15000)
    assert page.evaluate("window.promptforgeCalls.length") > calls_before
    assert "Summarise the launch plan" in page.inner_text("#answer")

    # 6. degrade off → gone
    clear_degraded(board, None)
    banner.wait_for(state="hidden", timeout=5000)
    shot("cleared")
    assert page.locator("degradation-banner").get_attribute("data-reason") == ""
    assert console_errors == []
