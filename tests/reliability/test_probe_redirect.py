"""Probe finding (issue 18, medium): an open redirect after login. ``/login?next=%2F%5Cevil.example%2Fx``
(and ``/<TAB>/evil.example/x``) passed the login page's check (starts with ``/``, not ``//``) and
Chromium went to evil.example. Now the server refuses such a ``next`` before the page is served
(web/redirects.py) and the page's script applies the same rule (static/js/login.js, ``safeNext``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from importlib import resources
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from civicloop.http.redirects import safe_next

LOGIN_JS = Path(str(resources.files("civicloop.web"))) / "static" / "js" / "login.js"
ORIGIN = "https://city.example"

HOSTILE = [
    "/\\evil.example/x",
    "/\t/evil.example/x",
    "/\n/evil.example",
    "\\\\evil.example",
    "\\/evil.example",
    "/\\/evil.example",
    "//evil.example",
    "///evil.example",
    "https://evil.example/",
    "javascript:alert(1)",
    "java\tscript:alert(1)",
    " /evil",
    "/\x00/evil.example",
    "/\x1f/evil.example",
    "/\u2028/evil.example",
    "evil.example",
    "",
]
SAFE = {
    "/workspace": "/workspace",
    "/cases/TY2026050100001?tab=timeline#photos": "/cases/TY2026050100001?tab=timeline#photos",
    "/m/": "/m/",
    "/public/track/TY1": "/public/track/TY1",
    "/a\\b": "/a/b",  # a backslash further on is a slash, as the browser reads it
    "/\tworkspace": "/workspace",  # the browser drops the tab: still this site
}


@pytest.mark.parametrize("target", HOSTILE)
def test_the_server_drops_a_next_that_leaves_the_site(client: TestClient, target: str) -> None:
    assert safe_next(target) is None
    r = client.get("/login", params={"next": target}, follow_redirects=False)
    if "\x00" in target:  # refused before any route, as every NUL in a request
        assert r.status_code == 422, r.text
        return
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/login"


def test_the_server_serves_a_harmless_next_as_asked(client: TestClient) -> None:
    for target, normalised in SAFE.items():
        assert safe_next(target) == normalised
        r = client.get("/login", params={"next": target}, follow_redirects=False)
        if target == normalised:
            assert r.status_code == 200 and "login-form" in r.text
        else:
            assert r.status_code == 303 and r.headers["location"] == "/login?" + urlencode(
                {"next": normalised}
            )
    assert client.get("/login").status_code == 200
    twice = client.get("/login?next=/workspace&next=//evil.example", follow_redirects=False)
    assert twice.status_code == 303 and twice.headers["location"] == "/login"


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("/\\\t\n\r .:@?#%a\x00\x0b\u2028"), max_size=12))
def test_whatever_the_server_keeps_is_a_path_of_this_site(target: str) -> None:
    kept = safe_next(target)
    if kept is None:
        return
    assert kept.startswith("/") and not kept.startswith("//") and "\\" not in kept
    assert not any(c in kept for c in "\t\n\r\x00\x0b\u2028 ")


def _browser_rule(targets: list[str]) -> list[str | None]:
    """login.js's safeNext, run in Node with a stub of the page around it."""
    script = f"""
const vm = require("vm");
const fs = require("fs");
const CL = {{ ready() {{}} }};
const source = fs.readFileSync({json.dumps(str(LOGIN_JS))}, "utf8");
// the form's submit handler is attached at load: a stub element takes it
const document = {{ getElementById() {{ return {{ addEventListener() {{}} }}; }} }};
vm.runInNewContext(source, {{ window: {{ CL }}, document, URL, URLSearchParams }});
const targets = JSON.parse(fs.readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(targets.map((t) => CL.safeNext(t, {json.dumps(ORIGIN)}))));
"""
    done = subprocess.run(
        ["node", "-e", script],
        input=json.dumps(targets),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    result: list[str | None] = json.loads(done.stdout)
    return result


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_login_script_applies_the_same_rule() -> None:
    assert _browser_rule(HOSTILE) == [None] * len(HOSTILE)
    assert _browser_rule(list(SAFE)) == list(SAFE.values())
