"""The web command center in real headless Chromium (Playwright): the whole loop by five people in their
roles, the scope refusal, the language switch, and screenshots for review (tests/web/screenshots/)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from civicloop.cases.core import Actor
from civicloop.city.service import City
from civicloop.kernel.vocabulary import Action, ClosureReason, Role, Stage
from civicloop.simulator.placer import placer_for
from civicloop.simulator.simulate import Simulator
from civicloop.store.database import make_engine
from civicloop.web.live import local_midnight
from tests.web.helpers import (
    DISPATCHER,
    INSPECTOR,
    OPERATOR,
    SCREENSHOTS,
    SHIFT_LEADER,
    Served,
    a_city,
    image_bytes,
    move,
    point_in,
    report,
    serve,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
SCREEN = {"width": 1920, "height": 1080}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[City, Served]]:
    path = tmp_path_factory.mktemp("web")
    engine = make_engine(f"sqlite:///{path / 'civicloop.db'}")
    city = a_city(engine, "taiyuan")
    # two days of simulated history, ending yesterday afternoon: a screen with something on it, and
    # "today" still empty so that the loop's own figures can be checked exactly
    end = local_midnight(ZoneInfo(city.profile.timezone)) - timedelta(hours=7)
    sim = Simulator(city, seed=5, start=end - timedelta(days=2), placer=placer_for(city), reports_per_day=250)
    sim.run_until(end)
    with serve(city, path / "photos") as s:
        s.accounts.create_user("roads", "roads-password-1", "department", department_id="ty-roads")
        s.users["roads"] = ("roads", "roads-password-1")
        yield city, s
    engine.dispose()


class Watch:
    """Console problems of every page: CSP violations and script errors fail the test."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def attach(self, page: Any) -> Any:
        page.on("pageerror", lambda e: self.problems.append(f"{page.url}: {e}"))
        page.on(
            "console",
            lambda m: (
                self.problems.append(f"{page.url}: {m.text}")
                if m.type == "error" and ("Content Security Policy" in m.text or "Uncaught" in m.text)
                else None
            ),
        )
        return page


def wait_js(page: Any, expression: str, timeout: float = 15.0) -> Any:
    """Poll a JS expression until it is truthy (no eval in the page: the CSP forbids it)."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expression)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        time.sleep(0.1)


def ready(page: Any) -> None:
    page.wait_for_selector("body[data-ready]", state="attached", timeout=20000)


def login(page: Any, s: Served, role: str, next_path: str) -> None:
    user, password = s.users[role]
    page.goto(f"{s.url}/login?next={next_path}")
    ready(page)
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(f"{s.url}{next_path}*")
    ready(page)


def act(page: Any, case_id: str, action: str, fill: Callable[[Any], None] | None = None) -> None:
    """Press an action button on a case card, complete the dialog, wait for the card to go."""
    card = page.locator(f"article[data-case='{case_id}']")
    card.wait_for(timeout=15000)
    card.locator(f"button[data-action='{action}']").click()
    dialog = page.locator(f"dialog.action-dialog[data-action='{action}']")
    dialog.wait_for()
    if fill:
        fill(dialog)
    confirm = dialog.locator("#f-_confirm")  # irreversible actions ask for a tick first
    if confirm.count():
        confirm.check()
    dialog.locator("[data-role=submit]").click()
    dialog.wait_for(state="detached", timeout=15000)
    card.wait_for(state="detached", timeout=15000)


def total(city: City) -> int:
    return sum(city.cases.stage_counts().values())


def outbox(page: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = page.evaluate(
        "async () => (await CL.outbox.all()).map(i => ({id: i.id, kind: i.kind, status: i.status, "
        "case_id: i.case_id, replayed: !!i.replayed, error: i.error}))"
    )
    return items


def test_the_whole_loop_through_the_ui(browser: Any, served: tuple[City, Served]) -> None:
    city, s = served
    watch = Watch()
    lon, lat, codes = point_in(city, "140105")  # the demo inspector's district (小店区)
    SCREENSHOTS.mkdir(exist_ok=True)

    # the duty room's big screen watches the whole time
    screen_ctx = browser.new_context(viewport=SCREEN, locale="zh-CN")
    screen = watch.attach(screen_ctx.new_page())
    login(screen, s, "leader", "/screen")

    # 1. the inspector reports on the phone: photo, GPS, suggested category — while the network is down
    phone_ctx = browser.new_context(
        viewport=PHONE,
        is_mobile=True,
        has_touch=True,
        geolocation={"longitude": lon, "latitude": lat},
        permissions=["geolocation"],
        locale="zh-CN",
    )
    phone = watch.attach(phone_ctx.new_page())
    phone.goto(f"{s.url}/m/")
    phone.fill("#m-user", s.users["inspector"][0])
    phone.fill("#m-pass", s.users["inspector"][1])
    phone.click("#m-login button[type=submit]")
    phone.wait_for_selector("#report-view:not([hidden])")
    wait_js(
        phone, "document.querySelector('#loc-text').textContent.includes(" + repr(codes["grid_code"]) + ")"
    )
    phone.set_input_files(
        "#photo-input",
        files=[{"name": "before.png", "mimeType": "image/png", "buffer": image_bytes((120, 90, 30))}],
    )
    phone.wait_for_selector("#photo-previews img")
    phone.fill("#desc", "路口垃圾成堆，无人清运，联系电话13812345678")
    phone.wait_for_selector("#suggestions .chip")
    phone.select_option("#category", "06010")
    phone.screenshot(path=str(SCREENSHOTS / "phone-report.png"))
    before = total(city)
    phone_ctx.set_offline(True)
    phone.click("#report-submit")
    wait_js(phone, "document.querySelector('#outbox-count').textContent === '1'")
    wait_js(
        phone, "CL.outbox.all().then(a => a.length === 1 && a[0].status === 'queued' && a[0].attempts >= 1)"
    )
    queued = outbox(phone)
    assert [i["status"] for i in queued] == ["queued"] and total(city) == before
    phone_ctx.set_offline(False)
    phone.evaluate("window.dispatchEvent(new Event('online'))")
    wait_js(phone, "CL.outbox.all().then(a => a.length === 1 && a[0].status === 'sent')")
    case_id = outbox(phone)[0]["case_id"]
    assert case_id and city.cases.get(case_id).stage is Stage.REPORTED
    # the answer was "lost": sending the same submission again gives the same case, never a second one
    phone.evaluate(
        "async () => { const [i] = await CL.outbox.all(); i.status = 'queued'; await CL.outbox.put(i);"
        " await CL.outbox.flush(); }"
    )
    again = outbox(phone)[0]
    assert again["status"] == "sent" and again["case_id"] == case_id and again["replayed"]
    assert total(city) == before + 1
    state = city.cases.get(case_id)
    assert state.grid_code == codes["grid_code"] and len(state.photos) == 1 and state.category_code == "06010"

    # 2. the operator accepts it from the review queue, seeing the triage suggestion
    desk = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    operator = watch.attach(desk.new_page())
    login(operator, s, "operator", "/workspace")
    card = operator.locator(f"article[data-case='{case_id}']")
    card.wait_for()
    assert "06010" in card.locator("[data-triage]").inner_text()
    operator.screenshot(path=str(SCREENSHOTS / "workspace-operator.png"))

    def accept(d: Any) -> None:
        assert d.locator("#f-category_code").input_value() == "06010"  # the suggestion, prefilled

    act(operator, case_id, "accept", accept)

    # 3. the shift leader files it
    leader_ctx = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    shift = watch.attach(leader_ctx.new_page())
    login(shift, s, "shift_leader", "/workspace")
    act(shift, case_id, "file")

    # 4. the dispatcher dispatches it to the sanitation department
    disp_ctx = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    dispatcher = watch.attach(disp_ctx.new_page())
    login(dispatcher, s, "dispatcher", "/workspace")
    act(
        dispatcher,
        case_id,
        "dispatch",
        lambda d: d.locator("#f-department_id").select_option("ty-sanitation"),
    )

    # 5. the department handles it with an after-photo
    dept_ctx = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    dept = watch.attach(dept_ctx.new_page())
    login(dept, s, "department", "/workspace")

    def handle(d: Any) -> None:
        d.locator("#f-note").fill("已清运完毕")
        d.locator("#f-photos").set_input_files(
            files=[{"name": "after.png", "mimeType": "image/png", "buffer": image_bytes((40, 160, 60))}]
        )

    act(dept, case_id, "handle", handle)

    # 6. the operator sends the check task
    operator.click("button[data-tab=queue]")
    act(operator, case_id, "send_check")

    # 7. the inspector checks on site, on the phone
    phone.click("nav button[data-view=tasks]")
    task = phone.locator(f"article[data-case='{case_id}'][data-task=check]")
    task.wait_for(timeout=15000)
    task.locator("[data-role=photo]").set_input_files(
        files=[{"name": "check.png", "mimeType": "image/png", "buffer": image_bytes((40, 140, 200))}]
    )
    task.locator("[data-answer=yes]").click()
    wait_js(phone, "CL.outbox.all().then(a => a.length === 2 && a.every(i => i.status === 'sent'))")
    assert city.cases.get(case_id).stage is Stage.CHECKED

    # 8. the shift leader closes it
    shift.click("button[data-tab=queue]")
    act(shift, case_id, "close")
    state = city.cases.get(case_id)
    assert state.stage is Stage.CLOSED and state.closure_reason is ClosureReason.FIXED
    assert len(state.after_photos) == 2  # the department's after-photo and the inspector's check photo
    assert [e.action for e in city.cases.timeline(case_id)] == [
        Action.REPORT,
        Action.ACCEPT,
        Action.FILE,
        Action.DISPATCH,
        Action.HANDLE,
        Action.SEND_CHECK,
        Action.CHECK,
        Action.CLOSE,
    ]

    # the big screen saw it all live, without reloading
    wait_js(
        screen, f"(window.__cl.events || []).some(e => e.case_id === '{case_id}' && e.action === 'close')"
    )
    wait_js(screen, "document.querySelector('#t-close .v').textContent === '1'")
    assert screen.locator("#t-report .v").inner_text() == "1"
    assert screen.locator(f"#ticker li[data-case='{case_id}']").count() == 1
    assert screen.evaluate("window.__cl.marks['screen-ready'] !== undefined")
    screen.reload()  # a fresh render: by now the KPI engine has computed the month's figures
    ready(screen)
    wait_js(screen, "!document.querySelector('#kpi-state').textContent.includes('计算')", timeout=30)
    time.sleep(0.5)
    screen.screenshot(path=str(SCREENSHOTS / "screen.png"))

    # the case page tells the whole story
    operator.goto(f"{s.url}/cases/{case_id}")
    ready(operator)
    assert operator.locator("#timeline li").count() == 8
    assert operator.locator("#case-stage").inner_text() == "已结案"
    assert operator.locator("#clocks tr").count() >= 8
    assert operator.locator(".photos img").count() >= 2
    operator.screenshot(path=str(SCREENSHOTS / "case.png"), full_page=True)

    # the citizen tracks it: public status and outcome, nothing personal
    public_ctx = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    citizen = watch.attach(public_ctx.new_page())
    citizen.goto(f"{s.url}/public/track/{case_id}")
    ready(citizen)
    assert "已结案" in citizen.locator("#track-status").inner_text()
    assert citizen.locator("#track-fixed").count() == 1
    content = citizen.content()
    assert "13812345678" not in content and "138****5678" in content
    assert state.reporter_id is not None and state.reporter_id not in content
    citizen.click("button[data-lang='en']")
    assert citizen.locator("#track-status").inner_text() == "resolved"
    citizen.reload()
    ready(citizen)
    assert citizen.locator("#track-status").inner_text() == "resolved"  # the choice is kept
    citizen.screenshot(path=str(SCREENSHOTS / "public-track.png"))

    phone.click("nav button[data-view=outbox]")
    phone.screenshot(path=str(SCREENSHOTS / "phone-outbox.png"))
    for ctx in (screen_ctx, phone_ctx, desk, leader_ctx, disp_ctx, dept_ctx, public_ctx):
        ctx.close()
    assert watch.problems == []


def test_a_login_sent_before_the_page_has_started_waits_and_never_puts_the_password_in_the_url(
    browser: Any, served: tuple[City, Served]
) -> None:
    """Under load the start-up fetches can come back after the user has pressed 登录: the form must wait for
    them, not fall back to a native GET submit with the password in the address (and the server's log)."""
    _, s = served
    held: list[Any] = []
    ctx = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = ctx.new_page()
    page.route("**/api/v1/cities", lambda route: held.append(route))
    user, password = s.users["operator"]
    page.goto(f"{s.url}/login?next=/workspace")
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#login-submit")
    wait_js(page, "document.readyState === 'complete'")
    assert len(held) == 1 and page.query_selector("body[data-ready]") is None  # start-up still waiting
    assert "password" not in page.url and password not in page.url
    held[0].continue_()
    page.wait_for_url(f"{s.url}/workspace*")
    ready(page)
    ctx.close()


def test_a_department_cannot_open_another_departments_case(browser: Any, served: tuple[City, Served]) -> None:
    city, s = served
    at = datetime.now(UTC) - timedelta(minutes=30)
    lon, lat, codes = point_in(city, "140106")
    case_id = report(city, INSPECTOR, at, lon=lon, lat=lat, **codes)
    move(
        city,
        case_id,
        [
            (Action.ACCEPT, OPERATOR, {}),
            (Action.FILE, SHIFT_LEADER, {}),
            (Action.DISPATCH, DISPATCHER, {"department_id": "ty-sanitation"}),
        ],
        at,
    )
    watch = Watch()
    ctx = browser.new_context(viewport=DESKTOP, locale="zh-CN")
    page = watch.attach(ctx.new_page())
    login(page, s, "roads", f"/cases/{case_id}")
    refusal = page.locator("#refusal")
    refusal.wait_for()
    assert "无权查看" in refusal.inner_text()
    assert page.locator("#timeline").count() == 0
    status = page.evaluate(
        f"fetch('/api/v1/cases/{case_id}', {{headers: {{Authorization: 'Bearer ' + CL.auth.token()}}}})"
        ".then(r => r.status)"
    )
    assert status in (403, 404)
    page.screenshot(path=str(SCREENSHOTS / "case-refused.png"))
    # its own department opens it
    own = watch.attach(browser.new_context(viewport=DESKTOP, locale="zh-CN").new_page())
    login(own, s, "department", f"/cases/{case_id}")
    assert own.locator("#case-stage").inner_text() == "处置中"
    assert own.locator("#case-actions button[data-action=handle]").count() == 1
    ctx.close()
    assert watch.problems == []


def test_the_language_switch_is_kept_and_formats_follow_it(browser: Any, served: tuple[City, Served]) -> None:
    _, s = served
    ctx = browser.new_context(viewport=SCREEN, locale="zh-CN")
    page = ctx.new_page()
    login(page, s, "leader", "/screen")
    assert "数字化城市管理指挥中心" in page.locator(".s-title").inner_text()
    page.click("button[data-lang='en']")
    assert "Command Center" in page.locator(".s-title").inner_text()
    page.reload()
    ready(page)
    assert page.locator("#light-red .k").inner_text() == "Red · overdue"
    assert page.evaluate("document.documentElement.lang") == "en"
    clock = page.locator("#clock").inner_text()
    assert any(day in clock for day in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"))
    page.screenshot(path=str(SCREENSHOTS / "screen-en.png"))
    ctx.close()


def test_the_phone_app_installs_and_opens_offline(browser: Any, served: tuple[City, Served]) -> None:
    _, s = served
    ctx = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN")
    page = ctx.new_page()
    page.goto(f"{s.url}/m/")
    ready(page)
    assert page.evaluate("navigator.serviceWorker.ready.then(r => r.active !== null)")
    manifest = page.evaluate("fetch('/m/manifest.webmanifest').then(r => r.json())")
    assert manifest["display"] == "standalone" and manifest["icons"]
    wait_js(
        page,
        "caches.keys().then(async keys => { for (const n of keys) {"
        " if (await (await caches.open(n)).match('/m/')) return true; } return false; })",
    )
    ctx.set_offline(True)
    page.reload()
    ready(page)  # the shell came from the service worker's cache
    assert page.locator("#m-login").is_visible()
    ctx.close()


AXE = Path(__file__).parent / "vendor" / "axe.min.js"  # axe-core 4.14.1 from npm (tests/web/vendor)
AXE_RUN = """async () => {
  const tags = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
  const r = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  return r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => v.id + ": " + v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", "));
}"""


def axe_violations(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    found: list[str] = page.evaluate(AXE_RUN)
    return found


def tab_to(page: Any, element_id: str, limit: int = 80) -> None:
    """Move the keyboard focus with Tab alone until it is on *element_id*."""
    for _ in range(limit):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached #{element_id}")


def test_a_citizen_reports_and_rates_by_keyboard_on_a_phone_and_the_pages_pass_axe(
    browser: Any, served: tuple[City, Served]
) -> None:
    city, s = served
    lon, lat, _ = point_in(city, "140105")
    ctx = browser.new_context(
        viewport=PHONE,
        locale="zh-CN",
        geolocation={"longitude": lon, "latitude": lat},
        permissions=["geolocation"],
        bypass_csp=True,  # axe-core is injected as a script tag
    )
    page = ctx.new_page()
    page.goto(f"{s.url}/public/")
    ready(page)
    assert axe_violations(page) == []
    tab_to(page, "public-gps")
    page.keyboard.press("Enter")
    wait_js(page, "document.querySelector('#public-loc').textContent.includes('小店')")
    # the address search (the geocoder's contract), by keyboard: the place shown as a readable address
    tab_to(page, "public-address")
    page.keyboard.type("小店区并州路十二号")
    page.keyboard.press("Enter")
    page.wait_for_selector("#public-address-results button", timeout=10000)
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('#public-address-results') !== null")
    page.keyboard.press("Enter")
    wait_js(page, "document.querySelector('#public-loc').textContent.includes('并州')")
    tab_to(page, "public-desc")
    page.keyboard.type("路口垃圾成堆，没人清理")
    tab_to(page, "public-email")
    page.keyboard.type("citizen@example.org")
    tab_to(page, "public-submit")
    page.keyboard.press("Enter")
    page.wait_for_selector("#tracking-number", timeout=15000)
    case_id = page.locator("#tracking-number").inner_text()
    track_url = page.locator("#public-track-link").get_attribute("href")
    assert "#t=" in track_url
    assert axe_violations(page) == []
    tab_to(page, "public-another")
    page.keyboard.press("Enter")
    assert page.locator("#public-form").is_visible() and page.locator("#public-desc").input_value() == ""
    # the case is handled and closed; the citizen rates it from the tracking link, by keyboard
    at = datetime.now(UTC)
    dept = Actor("h-san", Role.DEPARTMENT, department_id="ty-sanitation")
    for action, actor, fields in (
        (Action.ACCEPT, OPERATOR, {"verify": False}),
        (Action.FILE, SHIFT_LEADER, {}),
        (Action.DISPATCH, DISPATCHER, {"department_id": "ty-sanitation"}),
        (Action.HANDLE, dept, {"note": "已清运", "photos": ["after.jpg"]}),
        (Action.SEND_CHECK, OPERATOR, {}),
        (Action.CHECK, INSPECTOR, {"passed": True, "photos": ["check.jpg"]}),
        (Action.CLOSE, SHIFT_LEADER, {}),
    ):
        move(city, case_id, [(action, actor, fields)], at)
    page.goto(f"{s.url}{track_url}")
    ready(page)
    assert page.locator("#track-updates li").count() >= 4
    assert axe_violations(page) == []
    for _ in range(80):
        if page.evaluate("document.activeElement && document.activeElement.name") == "rating":
            break
        page.keyboard.press("Tab")
    page.keyboard.press("Space")
    tab_to(page, "track-rate-submit")
    page.keyboard.press("Enter")
    page.wait_for_selector("#track-rated", timeout=10000)
    state = city.cases.get(case_id)
    assert state.satisfaction == "satisfied" and state.feedback_raters
    ctx.close()


def test_photos_are_previewed_downscaled_and_offer_their_gps_position(
    browser: Any, served: tuple[City, Served]
) -> None:
    import io

    from PIL import Image

    city, s = served
    lon, lat, _ = point_in(city, "140105")

    def dms(v: float) -> tuple[float, float, float]:
        d = int(v)
        m = int((v - d) * 60)
        return (float(d), float(m), round((v - d - m / 60) * 3600, 4))

    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: dms(lat), 3: "E", 4: dms(lon)}
    raw = io.BytesIO()
    Image.new("RGB", (3000, 2000), (90, 140, 60)).save(raw, "JPEG", exif=exif.tobytes())  # 6 MP
    ctx = browser.new_context(viewport=PHONE, locale="zh-CN")
    page = Watch().attach(ctx.new_page())
    page.goto(f"{s.url}/public/")
    ready(page)
    page.set_input_files(
        "#public-photo", files=[{"name": "p.jpg", "mimeType": "image/jpeg", "buffer": raw.getvalue()}]
    )
    page.wait_for_selector(".preview img", timeout=10000)
    page.locator(".preview button", has_text="拍摄位置").click()  # the photo's EXIF position as the place
    wait_js(page, "document.querySelector('#public-loc').textContent.includes('小店')")
    # the accessible names (labels, the pin, the map's buttons) follow the language switch like the text
    names = """() => [document.querySelector('#public-name').getAttribute('aria-label'),
      document.querySelector('.leaflet-control-zoom-in').getAttribute('aria-label'),
      document.querySelector('.leaflet-marker-icon').alt,
      document.querySelector('.preview button').getAttribute('aria-label')]"""
    assert page.evaluate(names) == ["姓名", "放大", "所选位置", "移除照片 1"]
    page.click("button[data-lang='en']")
    assert page.evaluate(names) == ["Name", "Zoom in", "The chosen place", "Remove photo 1"]
    assert "小店" in page.locator("#public-loc").inner_text()  # the place stays, in the new language
    page.fill("#public-desc", "井盖破损，有人差点摔倒")
    page.click("#public-submit")
    page.wait_for_selector("#tracking-number", timeout=15000)
    state = city.cases.get(page.locator("#tracking-number").inner_text())
    assert state.lon == pytest.approx(lon, abs=1e-4) and len(state.photos) == 1
    stored = page.request.get(f"{s.url}/api/v1/photos/{state.photos[0]}")
    with Image.open(io.BytesIO(stored.body())) as img:
        assert img.width * img.height <= 2_000_000 and not img.getexif()  # downscaled, no GPS kept
    ctx.close()
