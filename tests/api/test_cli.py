"""The command-line contract: `civicloop apikey create --jurisdiction X` prints a key; revoke, list; users;
`civicloop serve` wires host, port and the city into uvicorn."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from civicloop.accounts.service import AccountService
from civicloop.city.service import City
from civicloop.cli.main import app

runner = CliRunner()


def _url(city: City) -> str:
    return city.engine.url.render_as_string(hide_password=False)


def test_apikey_create_list_revoke(city: City) -> None:
    db = ["--database", _url(city)]
    created = runner.invoke(app, ["apikey", "create", "--jurisdiction", city.id, "--label", "fms", *db])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("c311.")
    service = AccountService(city.engine, city.id)
    key_id = service.check_api_key(key)
    assert key_id is not None
    listed = runner.invoke(app, ["apikey", "list", "--jurisdiction", city.id, "--json", *db])
    assert listed.exit_code == 0
    rows = json.loads(listed.stdout)
    assert [(r["key_id"], r["label"], r["revoked_at"]) for r in rows] == [(key_id, "fms", None)]
    assert key not in listed.stdout  # only hashes are stored; the key is never shown again
    revoked = runner.invoke(app, ["apikey", "revoke", key_id, "--jurisdiction", city.id, *db])
    assert revoked.exit_code == 0, revoked.output
    assert AccountService(city.engine, city.id).check_api_key(key) is None
    again = runner.invoke(app, ["apikey", "revoke", key, "--jurisdiction", city.id, *db])
    assert again.exit_code == 2


def test_user_create_and_list(city: City) -> None:
    db = ["--database", _url(city), "--city", city.id]
    dept = city.profile.departments[1].id
    r = runner.invoke(
        app, ["user", "create", "--username", "zhang", "--role", "department", "--department", dept, *db]
    )
    assert r.exit_code == 0, r.output
    assert "password: " in r.stdout
    missing = runner.invoke(app, ["user", "create", "--username", "wang", "--role", "department", *db])
    assert missing.exit_code == 2 and "department" in missing.output
    bad = runner.invoke(app, ["user", "create", "--username", "li", "--role", "mayor", *db])
    assert bad.exit_code == 2
    listed = json.loads(runner.invoke(app, ["user", "list", "--json", *db]).stdout)
    assert [(u["username"], u["role"], u["department_id"]) for u in listed] == [("zhang", "department", dept)]
    seeded = json.loads(runner.invoke(app, ["user", "seed-demo", "--json", *db]).stdout)
    assert {u["role"] for u in seeded} == {
        "inspector", "operator", "shift_leader", "dispatcher", "department", "leader", "viewer", "admin",
    }  # fmt: skip
    units = {u["department_id"]: u["username"] for u in seeded if u.get("department_id")}
    assert units["ty-xiaodian-sanitation"] == "ty-xiaodian-sanitation"  # every department unit has a login


def test_serve_passes_host_port_and_city_to_uvicorn(city: City, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    r = runner.invoke(app, ["serve", "--database", _url(city), "--city", city.id, "--port", "9999"])
    assert r.exit_code == 0, r.output
    assert seen["host"] == "127.0.0.1" and seen["port"] == 9999
    assert seen["app"].state.civicloop.default == city.id
    r = runner.invoke(app, ["serve", "--database", _url(city), "--city", "atlantis"])
    assert r.exit_code == 2


def test_serve_sizes_the_state_cache_from_the_environment_and_refuses_a_bad_value(
    city: City, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.setenv("CIVICLOOP_STATE_CACHE", "1234")
    r = runner.invoke(app, ["serve", "--database", _url(city), "--city", city.id])
    assert r.exit_code == 0, r.output
    assert seen["app"].state.civicloop.main.city.cases.cache.size == 1234
    seen.clear()
    monkeypatch.setenv("CIVICLOOP_STATE_CACHE", "lots")
    r = runner.invoke(app, ["serve", "--database", _url(city), "--city", city.id])
    assert r.exit_code == 2 and not seen
    assert "CIVICLOOP_STATE_CACHE" in r.output and "'lots'" in r.output
    monkeypatch.setenv("CIVICLOOP_STATE_CACHE", "100")
    monkeypatch.setenv("CIVICLOOP_RATE_IP", "fast")
    r = runner.invoke(app, ["serve", "--database", _url(city), "--city", city.id])
    assert r.exit_code == 2 and not seen
    assert "CIVICLOOP_RATE_IP" in r.output
