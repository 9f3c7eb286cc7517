"""`make demo` end to end: a fresh directory, the demo command, a living command center on loopback."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except OSError:
        return 0, b""


@pytest.mark.slow
def test_the_demo_starts_a_living_command_center(tmp_path: Path) -> None:
    port = _free_port()
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "CIVICLOOP_DATABASE_URL": f"sqlite:///{tmp_path / 'demo.db'}",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "civicloop.cli.main", "demo", "--history-days", "0.3",
         "--port", str(port), "--duration", "240", "--rate", "20000"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 200
        while time.monotonic() < deadline and _get(f"{base}/healthz")[0] != 200:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(1)
        assert _get(f"{base}/healthz")[0] == 200
        status, body = _get(f"{base}/open311/v2/requests.json?jurisdiction_id=taiyuan")
        assert status == 200
        before = len(json.loads(body))
        assert before > 0  # the history is there
        for page in ("/screen", "/workspace", "/m/", "/public/"):
            assert _get(base + page)[0] == 200, page
        # the live simulation keeps reporting: new requests appear without anyone acting
        deadline = time.monotonic() + 60
        after = before
        while time.monotonic() < deadline and after <= before:
            time.sleep(3)
            after = len(json.loads(_get(f"{base}/open311/v2/requests.json?jurisdiction_id=taiyuan")[1]))
        assert after > before
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    assert "inspector" in out and "/screen" in out  # the demo users and the pages are printed
