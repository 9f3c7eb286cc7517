"""`make demo` end to end: a fresh directory, the demo command, a living command center on loopback, and
the README's next commands (reports in both formats) against the demo's database — with the fonts, and
as a newcomer whose machine has no CJK font (they work or stop at once with the install line)."""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from civicloop.kpi.fonts import FontMissing, find_chart_font, find_cjk_font
from civicloop.photos.simulated import simulated_ref

README = Path(__file__).parents[2] / "README.md"
CLI = [sys.executable, "-m", "civicloop.cli.main"]
INSTALL_LINE = "apt-get install fonts-noto-cjk"


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


@dataclass
class Demo:
    base: str
    proc: subprocess.Popen[str]
    home: Path  # the folder `make demo` ran in
    database_url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """What `make demo` runs, in a fresh folder, serving on a free port; stopped after the module."""
    home = tmp_path_factory.mktemp("demo")
    port = _free_port()
    url = f"sqlite:///{home / 'demo.db'}"
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "CIVICLOOP_DATABASE_URL": url}
    log = home / "demo.log"
    with log.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            [*CLI, "demo", "--history-days", "0.3", "--port", str(port), "--duration", "900",
             "--rate", "20000"],
            cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
    running = Demo(f"http://127.0.0.1:{port}", proc, home, url, log)
    try:
        deadline = time.monotonic() + 200
        while time.monotonic() < deadline and _get(f"{running.base}/healthz")[0] != 200:
            assert proc.poll() is None, running.output()
            time.sleep(1)
        assert _get(f"{running.base}/healthz")[0] == 200, running.output()
        yield running
    finally:
        proc.terminate()
        proc.wait(timeout=60)


@pytest.mark.slow
def test_the_demo_starts_a_living_command_center(demo: Demo) -> None:
    base = demo.base
    status, body = _get(f"{base}/open311/v2/requests.json?jurisdiction_id=taiyuan")
    assert status == 200
    before = len(json.loads(body))
    assert before > 0  # the history is there
    for page in ("/screen", "/workspace", "/m/", "/public/"):
        assert _get(base + page)[0] == 200, page
    # the live simulation keeps reporting: new requests appear without anyone acting. They arrive at random
    # (a Poisson stream): the wait allows for a quiet spell under the suite's load (60 s once saw none).
    deadline = time.monotonic() + 180
    after = before
    while time.monotonic() < deadline and after <= before:
        time.sleep(3)
        after = len(json.loads(_get(f"{base}/open311/v2/requests.json?jurisdiction_id=taiyuan")[1]))
    assert after > before
    out = demo.output()
    assert "inspector" in out and "/screen" in out  # the demo users and the pages are printed
    # a login for every department unit, the district units that routing sends cases to included
    assert "ty-xiaodian-sanitation" in out and "ty-jinyuan-sanitation" in out
    # the simulated cases' photos open; the API docs come from this server, not a CDN
    assert _get(f"{base}/api/v1/photos/{simulated_ref('after', 0)}")[0] == 200
    status, docs = _get(f"{base}/docs")
    assert status == 200 and b"/docs/assets/swagger-ui-bundle.js" in docs and b"cdn." not in docs


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    return done, time.perf_counter() - started


def _one_line(text: str) -> str:
    """The CLI's message as one line (rich wraps long messages at the terminal's width)."""
    return re.sub(r"\s+", " ", text)


def _fonts_installed() -> bool:
    try:
        find_cjk_font()
        find_chart_font()
    except FontMissing:
        return False
    return True


@pytest.mark.slow
def test_reports_of_the_demo_in_both_formats(demo: Demo, tmp_path: Path) -> None:
    """`civicloop report` for this month (the demo's history) as PDF and XLSX, while the demo runs."""
    if not _fonts_installed():
        pytest.skip(f"Noto Sans CJK is not installed: `make demo` / `make test` install it ({INSTALL_LINE})")
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "CIVICLOOP_DATABASE_URL": demo.database_url}
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    for fmt in ("pdf", "xlsx"):
        out = tmp_path / f"report.{fmt}"
        args = ["report", "--period", month, "--format", fmt, "--output", str(out)]
        done, _ = _run([*CLI, *args], tmp_path, env)
        assert done.returncode == 0, done.stdout + done.stderr
        assert out.is_file() and str(out.name) in done.stdout
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
    workbook = load_workbook(tmp_path / "report.xlsx")
    summary = {r[0]: r[1] for r in workbook["概览 Summary"].iter_rows(min_row=3, values_only=True) if r[0]}
    assert summary["上报数"] > 0  # this month's reports of the demo's history are in it
    assert len(workbook["图表 Charts"]._images) == 4


def _readme_commands() -> list[str]:
    """The README's command lines that read the demo's database: KPIs, exports, reports, assessment."""
    block = README.read_text(encoding="utf-8").split("## The command line", 1)[1].split("```bash", 1)[1]
    block = block.split("```", 1)[0]
    lines = [line.split("  #", 1)[0].strip() for line in block.splitlines()]
    wanted = ("civicloop kpi", "civicloop report", "civicloop assess")
    return [line for line in lines if line.startswith(wanted)]


@pytest.mark.slow
def test_a_newcomer_without_the_font_gets_working_commands_or_the_install_line_at_once(
    demo: Demo, tmp_path: Path
) -> None:
    """The README's commands after `make demo` with no CJK font on the font search path."""
    empty = tmp_path / "no-fonts"
    empty.mkdir()
    conf = tmp_path / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        f"<dir>{empty}</dir><cachedir>{tmp_path / 'fc-cache'}</cachedir></fontconfig>",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "PYTHONWARNINGS": "ignore",
        "CIVICLOOP_DATABASE_URL": demo.database_url,
        "CIVICLOOP_CJK_FONT": str(empty),  # the font lookup sees the empty folder only
        "FONTCONFIG_FILE": str(conf),  # and so does fontconfig (fc-match, fc-list)
    }
    commands = _readme_commands()
    assert any(" report " in f" {c} " and "--format pdf" in c for c in commands), commands
    assert any(" report " in f" {c} " and "--format xlsx" in c for c in commands), commands
    outcomes: dict[str, str] = {}
    for line in commands:
        args = shlex.split(line)
        done, seconds = _run([*CLI, *args[1:]], tmp_path, env)
        said = _one_line(done.stdout + done.stderr)
        if done.returncode == 0:
            outcomes[line] = "works"
            continue
        # the one way to fail: at once, exit 2, with the package to install and nothing written
        assert done.returncode == 2 and INSTALL_LINE in said, (line, said)
        output = args[args.index("--output") + 1] if "--output" in args else None
        assert output is None or not (tmp_path / output).exists(), line
        outcomes[line] = f"install line ({seconds:.1f} s)"
        # "at once": before the database is opened — the same command against no database at all still
        # names the font, not the database
        nowhere = {**env, "CIVICLOOP_DATABASE_URL": f"sqlite:///{tmp_path / 'absent' / 'none.db'}"}
        again, _ = _run([*CLI, *args[1:]], tmp_path, nowhere)
        assert again.returncode == 2 and INSTALL_LINE in _one_line(again.stdout + again.stderr), line
    print("\nREADME commands without a CJK font:", json.dumps(outcomes, ensure_ascii=False, indent=1))
    reports = [c for c in commands if " report " in f" {c} "]
    assert all(outcomes[c].startswith("install line") for c in reports)  # no report without its font
    assert any(outcomes[c] == "works" for c in commands if c not in reports)  # the rest just works
