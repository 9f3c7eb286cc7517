"""The staff desk in real Chromium: the case search form (its URL round-trips, rows and export equal the
API's), the list and the case side by side at 1920 × 1080, the review queue driven by the keyboard, and
the inspector's outbox (an .exe refused at pick time, a duplicate's real outcome, retry and delete).
Screenshots go to tests/web/screenshots/ (git-ignored)."""

from __future__ import annotations

import io
import json
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook  # type: ignore[import-untyped]

from civicloop.city.service import City
from civicloop.kernel.vocabulary import Action, ClosureReason, Stage
from civicloop.store.database import make_engine
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
from tests.web.test_browser import PHONE, SCREEN, Watch, login, ready, wait_js

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[City, Served, dict[str, str]]]:
    """A small city: three reports waiting for review, and four older cases that differ in place, text,
    stage and rework. Automatic triage on (it merges a duplicate report)."""
    path = tmp_path_factory.mktemp("desk")
    engine = make_engine(f"sqlite:///{path / 'civicloop.db'}")
    city = a_city(engine, "taiyuan")
    now = datetime.now(UTC)
    lon, lat, codes = point_in(city, "140105")
    lon2, lat2, codes2 = point_in(city, "140106")
    ids: dict[str, str] = {}
    for i, text in enumerate(["人行道井盖破损", "垃圾桶满溢", "共享单车乱停放"]):
        ids[f"review{i}"] = report(
            city, INSPECTOR, now - timedelta(minutes=30 - i), description=text, lon=lon2, lat=lat2, **codes2
        )
    old = now - timedelta(days=6)
    ids["east"] = report(city, INSPECTOR, old, description="路口东侧垃圾成堆", lon=lon, lat=lat, **codes)
    ids["west"] = report(city, INSPECTOR, old, description="路口西侧垃圾成堆", lon=lon, lat=lat, **codes)
    ids["north"] = report(city, INSPECTOR, old, description="北侧广告牌破损", lon=lon2, lat=lat2, **codes2)
    filed = [(Action.ACCEPT, OPERATOR, {"verify": False}), (Action.FILE, SHIFT_LEADER, {})]
    for key in ("east", "west", "north"):
        move(city, ids[key], [*filed, (Action.DISPATCH, DISPATCHER, {"department_id": "ty-sanitation"})], old)
    with serve(city, path / "photos", triage=True) as s:
        yield city, s, ids
    engine.dispose()


def _api(s: Served, token: str, path: str) -> Any:
    req = urllib.request.Request(s.url + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=20) as res:
        return json.loads(res.read())


def test_the_search_form_keeps_its_query_in_the_url_and_exports_the_result(
    browser: Any, desk: tuple[City, Served, dict[str, str]]
) -> None:
    city, s, ids = desk
    watch = Watch()
    SCREENSHOTS.mkdir(exist_ok=True)
    ctx = browser.new_context(viewport=SCREEN, locale="zh-CN", accept_downloads=True)
    page = watch.attach(ctx.new_page())
    login(page, s, "leader", "/workspace")
    page.click("#tabs [data-tab=search]")
    page.wait_for_selector("#search-total")
    page.fill("#search-text", "垃圾成堆")
    page.select_option("#search-district", "140105")
    page.select_option("#search-stage", "dispatched")
    page.select_option("#search-channel", "inspector")
    since = (datetime.now(city.cases.tz) - timedelta(days=10)).date().isoformat()
    page.fill("#search-created_from", since)
    page.select_option("#search-sort", "created")
    page.select_option("#search-dir", "asc")
    page.click("#search-run")
    wait_js(page, "location.search.includes('text=')")
    query = urllib.parse.parse_qs(page.evaluate("location.search.slice(1)"))
    assert query == {
        "text": ["垃圾成堆"], "district": ["140105"], "stage": ["dispatched"], "channel": ["inspector"],
        "created_from": [since], "dir": ["asc"],
    }  # fmt: skip
    token = page.evaluate("CL.auth.token()")
    api = _api(s, token, "/api/v1/cases/search?" + page.evaluate("location.search.slice(1)"))
    assert [i["case_id"] for i in api["items"]] == [ids["east"], ids["west"]]
    wait_js(page, "document.querySelectorAll('#search-table tr.search-row').length === 2")
    rows = page.eval_on_selector_all("#search-table tr.search-row", "rs => rs.map(r => r.dataset.case)")
    assert rows == [ids["east"], ids["west"]]
    # the bookmarked view comes back whole: the form filled from the URL, the same rows
    page.reload()
    ready(page)
    wait_js(page, "document.querySelectorAll('#search-table tr.search-row').length === 2")
    assert page.input_value("#search-text") == "垃圾成堆" and page.input_value("#search-district") == "140105"
    assert page.input_value("#search-dir") == "asc"
    # the list and the case side by side on a 1920 × 1080 screen
    page.click(f"#search-table tr[data-case='{ids['west']}'] td:nth-child(3)")
    page.wait_for_selector(f"#detail-body[data-case='{ids['west']}'] #detail-stage")
    detail = page.inner_text("#detail-body")
    assert (
        page.inner_text("#detail-stage") == "处置中" and "路口西侧垃圾成堆" in detail and "null" not in detail
    )
    assert page.locator("#detail-body button[data-action=urge]").is_visible()  # the leader's action, here
    view, pane = page.locator("#view").bounding_box(), page.locator("#detail").bounding_box()
    assert (
        view
        and pane
        and view["x"] + view["width"] <= pane["x"]
        and view["width"] > 700
        and pane["width"] > 700
    )
    page.screenshot(path=str(SCREENSHOTS / "desk-search-1920.png"))
    # the export holds the whole result
    with page.expect_download() as got:
        page.click("#export-xlsx")
    sheet = load_workbook(io.BytesIO(got.value.path().read_bytes()), read_only=True).active
    table = list(sheet.iter_rows(values_only=True))
    assert table[0][0] == "案卷编号" and [r[0] for r in table[1:]] == [ids["east"], ids["west"]]
    # a bad code: the browser stops it first; from a hand-edited URL the API's reason shows under the form
    page.fill("#search-grid", "bad code!")
    assert page.evaluate("document.querySelector('#search-grid').validity.patternMismatch")
    page.goto(f"{s.url}/workspace?grid=bad!#search")
    ready(page)
    wait_js(page, "document.querySelector('#search-error').textContent.includes('bad!')")
    assert page.evaluate("document.activeElement.id") == "search-grid"
    # below 1400 px one column: the case opens on its own page
    page.set_viewport_size({"width": 1200, "height": 900})
    assert not page.locator("#detail").is_visible()
    assert not watch.problems, watch.problems
    ctx.close()


def test_the_review_queue_is_driven_by_the_keyboard(
    browser: Any, desk: tuple[City, Served, dict[str, str]]
) -> None:
    city, s, ids = desk
    watch = Watch()
    ctx = browser.new_context(viewport=SCREEN, locale="zh-CN")
    page = watch.attach(ctx.new_page())
    login(page, s, "operator", "/workspace")
    page.wait_for_selector("#view article.case-card")
    waiting = page.eval_on_selector_all("#view article.case-card", "cs => cs.map(c => c.dataset.case)")
    assert set(waiting) >= {ids["review0"], ids["review1"], ids["review2"]}
    page.keyboard.press("?")
    page.wait_for_selector("#shortcut-help")
    assert "j" in page.inner_text("#shortcut-help") and "受理" in page.inner_text("#shortcut-help")
    page.screenshot(path=str(SCREENSHOTS / "desk-shortcuts.png"))
    page.keyboard.press("Escape")
    page.wait_for_selector("#shortcut-help", state="detached")
    selected = "document.querySelector('#view article.case-card.selected')?.dataset.case"
    page.keyboard.press("j")
    page.keyboard.press("j")
    assert page.evaluate(selected) == waiting[1]
    page.keyboard.press("k")
    assert page.evaluate(selected) == waiting[0]
    page.keyboard.press("o")  # opens beside the list
    page.wait_for_selector(f"#detail-body[data-case='{waiting[0]}'] #detail-stage")
    # a: the accept dialog; typing into its note fires no shortcut; Enter confirms
    page.keyboard.press("a")
    dialog = page.locator("dialog.action-dialog[data-action=accept]")
    dialog.wait_for()
    dialog.locator("#f-note").fill("r j k")
    assert page.locator("dialog.action-dialog").count() == 1
    dialog.locator("#f-verify").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#view article[data-case='{waiting[0]}']", state="detached")
    assert city.cases.get(waiting[0]).stage in (Stage.ACCEPTED, Stage.VERIFYING)
    # the place in the list is kept: the next case is selected; r rejects it
    wait_js(page, f"{selected} === '{waiting[1]}'")
    page.keyboard.press("r")
    reject = page.locator("dialog.action-dialog[data-action=reject]")
    reject.wait_for()
    reject.locator("#f-note").fill("非城管职责")
    reject.locator("#f-_confirm").check()  # rejecting cannot be undone: the dialog asks for a tick first
    reject.locator("[data-role=submit]").click()
    page.wait_for_selector(f"#view article[data-case='{waiting[1]}']", state="detached")
    assert city.cases.get(waiting[1]).stage is Stage.REJECTED
    # in English, the help speaks English
    page.evaluate("CL.setLang('en')")
    page.keyboard.press("?")
    assert "Next case" in page.inner_text("#shortcut-help")
    assert not watch.problems, watch.problems
    ctx.close()


def test_the_inspector_outbox_shows_each_outcome(
    browser: Any, desk: tuple[City, Served, dict[str, str]]
) -> None:
    city, s, ids = desk
    east = city.cases.get(ids["east"])
    assert east.lon is not None and east.lat is not None
    ctx = browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, locale="zh-CN",
        geolocation={"longitude": east.lon, "latitude": east.lat}, permissions=["geolocation"],
    )  # fmt: skip
    phone = Watch().attach(ctx.new_page())
    phone.goto(f"{s.url}/m/")
    phone.fill("#m-user", s.users["inspector"][0])
    phone.fill("#m-pass", s.users["inspector"][1])
    phone.click("#m-login button[type=submit]")
    phone.wait_for_selector("#report-view:not([hidden])")
    wait_js(phone, "document.querySelector('#loc-text').textContent.includes('140105')")
    # an .exe picked as a photo is refused at once, with the reason; nothing is added or queued
    exe = b"MZ\x90\x00" + b"\x00" * 200
    phone.set_input_files(
        "#photo-input", files=[{"name": "setup.exe", "mimeType": "image/png", "buffer": exe}]
    )
    wait_js(phone, "document.querySelector('#photo-error').textContent.includes('setup.exe')")
    assert phone.locator("#photo-previews img").count() == 0
    phone.set_input_files(
        "#photo-input", files=[{"name": "ok.png", "mimeType": "image/png", "buffer": image_bytes()}]
    )
    phone.wait_for_selector("#photo-previews img")
    assert phone.inner_text("#photo-error") == ""
    # the same problem again: triage merges it, and the outbox says into which case
    phone.fill("#desc", "路口东侧垃圾成堆")
    phone.select_option("#category", "06010")
    phone.click("#report-submit")
    wait_js(phone, "CL.outbox.all().then(a => a.length === 1 && a[0].status === 'sent')")
    phone.click("#m-tabs [data-view=outbox]")
    item = phone.locator("#outbox-list li[data-status=sent]")
    item.wait_for()
    assert item.get_attribute("data-outcome") == "duplicate"
    assert f"已并入 {ids['east']}（重复）" in item.locator("[data-role=outcome]").inner_text()
    merged = phone.evaluate("CL.outbox.all().then(a => a[0].case_id)")
    assert city.cases.get(merged).closure_reason is ClosureReason.DUPLICATE
    # a refusal keeps the item with the reason; edited and retried it is sent; another is deleted
    phone.evaluate(
        "CL.outbox.add({kind: 'action', action: 'check', case_id: 'TY-1999-0000001', version: 0,"
        " body: {passed: true}, title: 'check'})"
    )
    failed = phone.locator("#outbox-list li[data-status=failed]")
    failed.wait_for()
    assert "服务器拒绝" in failed.locator("[data-role=outcome]").inner_text()
    phone.screenshot(path=str(SCREENSHOTS / "phone-outbox-states.png"))
    phone.once("dialog", lambda d: d.accept())
    failed.locator("[data-role=delete]").click()
    failed.wait_for(state="detached")
    phone.evaluate(
        "CL.outbox.add({kind: 'report', title: 'bad category', body: {channel: 'inspector',"
        f" category_code: '99999', description: 'x', lon: {east.lon}, lat: {east.lat}}}}})"
    )
    bad = phone.locator("#outbox-list li[data-status=failed]")
    bad.wait_for()
    bad.locator("[data-role=edit]").click()
    bad.locator("select[name=category_code]").select_option("06010")
    bad.locator("textarea[name=description]").fill("西侧人行道井盖缺失")
    bad.locator("[data-role=save]").click()
    wait_js(phone, "CL.outbox.all().then(a => a.length === 2 && a.every(i => i.status === 'sent'))")
    fixed = phone.evaluate(
        "CL.outbox.all().then(a => a.find(i => i.title !== undefined && i.body.description.includes('井盖')))"
    )
    assert city.cases.get(fixed["case_id"]).category_code == "06010"
    ctx.close()
