"""What the reliability tests share: a fresh database per test (a SQLite file, or a new database in the
test PostgreSQL server), ``civicloop serve`` as a real subprocess that can be killed, the demo city with
an API key and one logged-in token per role, and the checks every test ends with (``civicloop rebuild
--check`` and ``civicloop audit verify`` through the real command line)."""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, make_url, text

from civicloop.accounts.secrets import fast_hasher
from civicloop.accounts.service import accounts_for, seed_demo_users
from civicloop.bootstrap import init_city

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("CIVICLOOP_TEST_PG_URL")
REQUIRE_PG = os.environ.get("CIVICLOOP_REQUIRE_PG") == "1"
XIAODIAN = {"lat": "37.723", "long": "112.593"}  # 小店区 140105: the demo inspector's district
_names = itertools.count(1)


def need_postgres() -> str:
    """The shared test server's URL, or skip (fail under ``make test``) as the ``backend`` fixture does."""
    if PG_URL is None:
        if REQUIRE_PG:
            pytest.fail("CIVICLOOP_TEST_PG_URL is not set but CIVICLOOP_REQUIRE_PG=1 (run via `make test`)")
        pytest.skip("PostgreSQL not configured: run `make test` to start one")
    return PG_URL


@contextmanager
def fresh_database(store: str, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database of its own: a new SQLite file, or a new PostgreSQL database."""
    if store == "sqlite":
        yield f"sqlite:///{tmp_path / 'civicloop.db'}"
        return
    base = make_url(need_postgres())
    name = f"rel_{os.getpid()}_{next(_names)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli() -> list[str]:
    """The installed ``civicloop`` command (the venv's console script), else ``python -m``."""
    script = Path(sys.executable).with_name("civicloop")
    return [str(script)] if script.exists() else [sys.executable, "-m", "civicloop.cli.main"]


def server_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "CIVICLOOP_TRIAGE": "0", "CIVICLOOP_RATE_LIMIT": "0"}
    env.update(extra or {})
    return env


@dataclass
class Server:
    """``civicloop serve`` on 127.0.0.1 in its own process: started, killed, restarted on one port."""

    url: str
    workdir: Path
    env: dict[str, str] = field(default_factory=server_env)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        log = open(self.workdir / f"serve-{self.starts}.log", "wb")  # noqa: SIM115 (closed by the child)
        cmd = [
            *cli(), "serve", "--database", self.url, "--port", str(self.port),
            "--photos", str(self.workdir / "photos"), "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, cwd=self.workdir, env=self.env, stdout=log, stderr=log)
        log.close()

    def wait_healthy(self, timeout: float = 60.0) -> float:
        """Seconds until ``GET /healthz`` answered 200."""
        assert self.proc is not None
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise AssertionError(f"civicloop serve exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2.0).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"civicloop serve not healthy after {timeout} s: {self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL: no shutdown handler, no flush, no goodbye."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self) -> str:
        logs = sorted(self.workdir.glob("serve-*.log"))
        return logs[-1].read_text(errors="replace")[-3000:] if logs else ""


@dataclass
class World:
    """The demo city in a fresh database: an Open311 API key and the demo users' passwords."""

    url: str
    city_id: str
    api_key: str
    passwords: dict[str, tuple[str, str]]  # role → (username, password)
    department_id: str


def make_world(url: str) -> World:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the calendar's "next year not published yet" notice
        city = init_city("taiyuan", url)
    accounts = accounts_for(city, hasher=fast_hasher())
    api_key = accounts.create_api_key("reliability")[1]
    passwords = {role: (u, p) for u, p, role in seed_demo_users(city, accounts=accounts)}
    department = accounts.find_user(passwords["department"][0])
    assert department is not None and department.department_id is not None
    world = World(url, city.id, api_key, passwords, department.department_id)
    city.engine.dispose()
    return world


def login_all(base: str, world: World, roles: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """role → Authorization header, logged in over HTTP."""
    out: dict[str, dict[str, str]] = {}
    with httpx.Client(base_url=base, timeout=30.0) as client:
        for role in roles:
            user, password = world.passwords[role]
            r = client.post("/api/v1/auth/login", json={"username": user, "password": password})
            assert r.status_code == 200, r.text
            out[role] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return out


def run_cli(*args: str, url: str, city_id: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*cli(), *args, "--database", url, "--city", city_id],
        cwd=ROOT,
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_consistent(url: str, city_id: str) -> dict[str, Any]:
    """``civicloop rebuild --check`` (every case equals the replay of its events) and ``civicloop audit
    verify`` (every hash chain intact), through the real command line; their summaries."""
    import json

    rebuild = run_cli("rebuild", "--check", "--json", url=url, city_id=city_id)
    assert rebuild.returncode == 0, rebuild.stdout[-3000:] + rebuild.stderr[-3000:]
    audit = run_cli("audit", "verify", "--json", url=url, city_id=city_id)
    assert audit.returncode == 0, audit.stdout[-3000:] + audit.stderr[-3000:]
    r, a = json.loads(rebuild.stdout), json.loads(audit.stdout)
    assert r["ok"] and a["ok"], (r, a)
    return {
        "rebuild": {k: r[k] for k in ("cases", "events")},
        "audit": {k: a[k] for k in ("cases", "events")},
    }


def pg_bin() -> Path:
    """The directory of PostgreSQL's server programs (as scripts/pg-test-server finds it)."""
    found = shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"))
    if not candidates:
        pytest.skip("PostgreSQL server programs are not installed (make test installs them)")
    return candidates[-1]
