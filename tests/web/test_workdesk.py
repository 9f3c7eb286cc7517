"""The workspaces as command-centre tools in real Chromium (issue 15, part A): the four branches of the
loop — extension, return, void, rework — each driven through the UI by the people whose step it is,
with what every approval card and dialog shows; /docs and /redoc with the network blocked. One server
and one login per role for the module; screenshots of each step go to tests/web/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from civicloop.accounts.service import seed_demo_department_users
from civicloop.cases.core import Actor
from civicloop.city.service import City
from civicloop.kernel.vocabulary import Action, Role, Stage
from civicloop.store.database import make_engine
from tests.web.helpers import (
    DISPATCHER,
    INSPECTOR,
    OPERATOR,
    SCREENSHOTS,
    SHIFT_LEADER,
    Served,
    a_city,
    move,
    point_in,
    report,
    serve,
)
from tests.web.test_browser import DESKTOP, Watch, act, login, ready

pytestmark = [pytest.mark.browser, pytest.mark.slow]

UNIT = "ty-xiaodian-sanitation"  # the district unit that routing sends 小店区's garbage to
UNIT_ACTOR = Actor("dept-web", Role.DEPARTMENT, department_id=UNIT)


@pytest.fixture(scope="module")
def desks(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One server; the dispatcher, shift leader, inspector and the district unit logged in once each."""
    path = tmp_path_factory.mktemp("workdesk")
    engine = make_engine(f"sqlite:///{path / 'civicloop.db'}")
    city = a_city(engine, "taiyuan")
    SCREENSHOTS.mkdir(exist_ok=True)
    with serve(city, path / "photos") as s:
        unit = next((u, p) for u, p, d in seed_demo_department_users(city, accounts=s.accounts) if d == UNIT)
        s.users["unit"] = unit
        watch = Watch()
        pages: dict[str, Any] = {"city": city, "served": s, "watch": watch}
        for role in ("operator", "dispatcher", "shift_leader", "inspector", "unit"):
            page = watch.attach(browser.new_context(viewport=DESKTOP, locale="zh-CN").new_page())
            login(page, s, role, "/workspace")
            pages[role] = page
        yield pages
        assert not watch.problems, watch.problems
    engine.dispose()


def _case(d: dict[str, Any], to: Stage) -> str:
    """A garbage report in 小店区 moved (by the domain, not under test here) to *to*."""
    city: City = d["city"]
    lon, lat, codes = point_in(city, "140105")
    now = datetime.now(UTC)
    case_id = report(city, INSPECTOR, now, lon=lon, lat=lat, **codes)
    steps: list[tuple[Action, Any, dict[str, Any]]] = [
        (Action.ACCEPT, OPERATOR, {"verify": False}),
        (Action.FILE, SHIFT_LEADER, {}),
    ]
    if to is not Stage.FILED:
        steps.append((Action.DISPATCH, DISPATCHER, {"department_id": UNIT}))
    if to is Stage.CHECKING:
        handled = {"note": "已清运", "photos": ["p/after.jpg"]}
        steps += [(Action.HANDLE, UNIT_ACTOR, handled), (Action.SEND_CHECK, OPERATOR, {})]
    move(city, case_id, steps, now)
    assert city.cases.get(case_id).stage is to
    return case_id


def _tab(page: Any, tab: str) -> None:
    page.click(f"button[data-tab={tab}]")
    ready(page)


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"workdesk-{name}.png"), full_page=False)


def _open_dialog(page: Any, case_id: str, action: str) -> Any:
    card = page.locator(f"article[data-case='{case_id}']")
    card.wait_for(timeout=15000)
    card.locator(f"button[data-action='{action}']").click()
    dialog = page.locator(f"dialog.action-dialog[data-action='{action}']")
    dialog.wait_for()
    return dialog


def _submit(page: Any, dialog: Any, case_id: str) -> None:
    confirm = dialog.locator("#f-_confirm")
    if confirm.count():
        confirm.check()
    dialog.locator("[data-role=submit]").click()
    dialog.wait_for(state="detached", timeout=15000)
    page.locator(f"article[data-case='{case_id}']").wait_for(state="detached", timeout=15000)


def _dispatched_to_the_unit(desks: dict[str, Any]) -> tuple[City, str, Any, Any]:
    """A case with the district unit, its worklist open: (city, case, the unit's page, the dispatcher's)."""
    case_id = _case(desks, Stage.DISPATCHED)
    _tab(desks["unit"], "worklist")
    return desks["city"], case_id, desks["unit"], desks["dispatcher"]


def test_extension_the_approver_sees_amount_deadlines_and_reason(desks: dict[str, Any]) -> None:
    city, case_id, unit, dispatcher = _dispatched_to_the_unit(desks)

    def ask(d: Any) -> None:
        assert d.locator("#f-amount").get_attribute("max") == "10000"  # the API's limit on the input
        d.locator("#f-amount").fill("2")
        d.locator("#f-note").fill("需要协调吊车")
        assert d.locator("#f-note").get_attribute("maxlength") == "4000"

    act(unit, case_id, "request_extension", ask)
    deadline = city.cases.get(case_id).deadline
    _tab(dispatcher, "approvals")
    box = dispatcher.locator(f"article[data-case='{case_id}'] .request-box[data-request=extension]")
    text = box.inner_text()
    assert (
        "2 工作日" in text and "需要协调吊车" in text and "批准后期限" in text and "当前处置期限" in text
    ), text
    _shot(dispatcher, "extension-card")
    dialog = _open_dialog(dispatcher, case_id, "approve_extension")
    assert "需要协调吊车" in dialog.locator(".request-box").inner_text()
    assert "延至" in dialog.locator(".consequence").inner_text()
    assert dialog.locator("#f-amount").input_value() == "2"  # what was asked is what gets approved
    _shot(dispatcher, "extension-dialog")
    _submit(dispatcher, dialog, case_id)
    after = city.cases.get(case_id)
    assert after.stage is Stage.DISPATCHED and deadline is not None and after.deadline is not None
    assert after.deadline > deadline


def test_return_the_approver_sees_the_reason_and_the_suggested_department(desks: dict[str, Any]) -> None:
    city, case_id, unit, dispatcher = _dispatched_to_the_unit(desks)

    def ask(d: Any) -> None:
        d.locator("#f-note").fill("不属本单位：位于迎泽区一侧")
        d.locator("#f-suggested_department_id").select_option("ty-yingze-sanitation")

    act(unit, case_id, "request_return", ask)
    _tab(dispatcher, "approvals")
    text = dispatcher.locator(
        f"article[data-case='{case_id}'] .request-box[data-request=return]"
    ).inner_text()
    assert "迎泽区环境卫生服务中心" in text and "不属本单位" in text and "小店区环境卫生服务中心" in text, (
        text
    )
    dialog = _open_dialog(dispatcher, case_id, "approve_return")
    assert "迎泽区环境卫生服务中心" in dialog.locator(".consequence").inner_text()
    _shot(dispatcher, "return-dialog")
    _submit(dispatcher, dialog, case_id)
    assert city.cases.get(case_id).stage is Stage.FILED


def test_void_the_approver_sees_the_reason_and_the_duplicate_as_a_link(desks: dict[str, Any]) -> None:
    city: City = desks["city"]
    original, case_id = _case(desks, Stage.FILED), _case(desks, Stage.FILED)
    dispatcher, leader = desks["dispatcher"], desks["shift_leader"]
    _tab(dispatcher, "dispatch")

    def ask(d: Any) -> None:
        d.locator("#f-reason").select_option("duplicate")
        d.locator("#f-duplicate_of").fill(original)
        d.locator("#f-note").fill("同一堆垃圾重复上报")

    act(dispatcher, case_id, "request_void", ask)
    _tab(leader, "queue")
    box = leader.locator(f"article[data-case='{case_id}'] .request-box[data-request=void]")
    box.wait_for(timeout=15000)
    assert box.locator(f"a[href='/cases/{original}']").count() == 1
    assert "重复" in box.inner_text() and "同一堆垃圾重复上报" in box.inner_text()
    dialog = _open_dialog(leader, case_id, "approve_void")
    assert original in dialog.locator(".consequence").inner_text()
    assert dialog.locator("#f-_confirm").count() == 1  # irreversible: a tick first
    _shot(leader, "void-dialog")
    _submit(leader, dialog, case_id)
    assert city.cases.get(case_id).stage is Stage.VOIDED


def test_rework_is_flagged_with_the_failed_checks_note_for_dispatcher_and_department(
    desks: dict[str, Any],
) -> None:
    city: City = desks["city"]
    case_id = _case(desks, Stage.CHECKING)
    inspector, dispatcher, unit = desks["inspector"], desks["dispatcher"], desks["unit"]
    _tab(inspector, "queue")
    dialog = _open_dialog(inspector, case_id, "check")
    dialog.locator("#f-passed").select_option("false")
    dialog.locator("[data-role=submit]").click()  # no reason, no tick: the browser stops it
    assert dialog.is_visible() and city.cases.get(case_id).stage is Stage.CHECKING
    dialog.locator("#f-note").fill("路面仍有残留垃圾")
    _submit(inspector, dialog, case_id)
    assert city.cases.get(case_id).rework_count == 1
    _tab(dispatcher, "dispatch")
    card = dispatcher.locator(f"article[data-case='{case_id}']")
    card.wait_for(timeout=15000)
    assert card.locator(".rework-box[data-rework='1']").count() == 1
    assert "路面仍有残留垃圾" in card.locator(".rework-box").inner_text()
    _shot(dispatcher, "rework-card")
    act(dispatcher, case_id, "dispatch", lambda d: d.locator("#f-department_id").select_option(UNIT))
    _tab(unit, "worklist")
    mine = unit.locator(f"article[data-case='{case_id}'] .rework-box")
    mine.wait_for(timeout=15000)
    assert "返工 1 次" in mine.inner_text() and "路面仍有残留垃圾" in mine.inner_text()
    _shot(unit, "rework-department")


def test_accept_honours_the_verify_choice_and_filing_picks_a_condition(desks: dict[str, Any]) -> None:
    city: City = desks["city"]
    lon, lat, codes = point_in(city, "140105")
    case_id = report(city, OPERATOR, datetime.now(UTC), channel="hotline", lon=lon, lat=lat, **codes)
    assert city.cases.get(case_id).needs_verification  # a hotline report is verified by default
    operator, leader = desks["operator"], desks["shift_leader"]
    _tab(operator, "review")

    def no_verification(d: Any) -> None:
        assert d.locator("#f-verify").is_checked()  # the default follows the channel
        d.locator("#f-verify").uncheck()

    act(operator, case_id, "accept", no_verification)
    assert city.cases.get(case_id).stage is Stage.ACCEPTED  # not 待核实: the choice is honoured
    _tab(leader, "filing")
    dialog = _open_dialog(leader, case_id, "file")
    options = dialog.locator("#f-condition_no option").all_inner_texts()
    assert len(options) >= 2 and options[0].startswith("1 · "), options  # the category's conditions
    dialog.locator("#f-condition_no").select_option("2")
    _shot(leader, "file-conditions")
    _submit(leader, dialog, case_id)
    assert city.cases.get(case_id).condition_no == 2


def test_api_docs_render_with_the_network_blocked(browser: Any, desks: dict[str, Any]) -> None:
    s: Served = desks["served"]
    ctx = browser.new_context(viewport=DESKTOP)
    blocked: list[str] = []

    def only_local(route: Any) -> None:
        if route.request.url.startswith(s.url):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    ctx.route("**/*", only_local)
    page = ctx.new_page()
    page.goto(f"{s.url}/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=30000)
    assert "civicloop" in page.locator(".swagger-ui .info .title").inner_text()
    page.wait_for_selector(".opblock", timeout=30000)
    _shot(page, "docs-offline")
    page.goto(f"{s.url}/redoc")
    page.wait_for_selector(".redoc-wrap", timeout=30000)
    assert blocked == [], blocked
    ctx.close()
