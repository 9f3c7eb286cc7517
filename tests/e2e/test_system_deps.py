"""scripts/system-deps, which `make demo` and `make test` run: what it installs as root, what it says
otherwise — run against stand-ins for fontconfig, dpkg, id and apt-get on a PATH of their own."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "scripts" / "system-deps"
FONTS = ["fonts-noto-cjk", "fonts-noto-color-emoji"]


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _machine(
    tmp_path: Path, *, uid: int, fonts: str = "", apt: bool = True, pdftotext: bool = True
) -> tuple[dict[str, str], Path]:
    """A PATH with only the stand-ins (and bash, grep): *fonts* is what fc-list prints."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "grep"):
        real = shutil.which(tool)
        assert real is not None
        (bin_dir / tool).symlink_to(real)
    calls = tmp_path / "apt-calls"
    _stub(bin_dir, "id", f"echo {uid}")
    _stub(bin_dir, "fc-list", f"printf '{fonts}'")
    _stub(bin_dir, "dpkg-query", "exit 1")  # no package known to dpkg
    if apt:
        _stub(bin_dir, "apt-get", f'echo "$*" >> {calls}')
    if pdftotext:
        _stub(bin_dir, "pdftotext", "exit 0")
    return {**os.environ, "PATH": str(bin_dir)}, calls


def _run(mode: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [shutil.which("bash") or "/bin/bash", str(SCRIPT), mode],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_as_root_the_demo_installs_the_fonts_with_apt(tmp_path: Path) -> None:
    env, calls = _machine(tmp_path, uid=0)
    done = _run("demo", env)
    assert done.returncode == 0, done.stderr
    installs = [line for line in calls.read_text().splitlines() if line.startswith("install")]
    assert len(installs) == 1 and installs[0].split()[-2:] == FONTS


def test_not_root_the_demo_prints_the_exact_install_line_and_goes_on(tmp_path: Path) -> None:
    env, calls = _machine(tmp_path, uid=1000)
    done = _run("demo", env)
    assert done.returncode == 0  # the command center works without the fonts
    line = "sudo apt-get install -y --no-install-recommends fonts-noto-cjk fonts-noto-color-emoji"
    assert line in done.stderr
    assert not calls.exists()  # nothing was tried without root


def test_not_root_the_tests_stop_with_the_install_line(tmp_path: Path) -> None:
    env, calls = _machine(tmp_path, uid=1000, pdftotext=False)
    done = _run("test", env)
    assert done.returncode == 1
    line = next(x for x in done.stderr.splitlines() if "sudo apt-get install" in x)
    assert {*FONTS, "poppler-utils"} <= set(line.split()) and not calls.exists()


def test_nothing_to_do_when_the_fonts_are_there(tmp_path: Path) -> None:
    listed = "/f/NotoSansCJK-Regular.ttc: Noto Sans CJK SC\\n/f/NotoColorEmoji.ttf: Noto Color Emoji\\n"
    env, calls = _machine(tmp_path, uid=1000, fonts=listed)
    done = _run("demo", env)
    assert done.returncode == 0 and done.stderr == "" and not calls.exists()


def test_without_apt_it_names_what_to_install_by_hand(tmp_path: Path) -> None:
    env, _ = _machine(tmp_path, uid=1000, apt=False)
    done = _run("demo", env)
    assert done.returncode == 0
    assert "by hand" in done.stderr and "Noto Sans CJK" in done.stderr and "Noto Color Emoji" in done.stderr
    assert "sudo apt-get" not in done.stderr


def test_an_unknown_mode_is_refused(tmp_path: Path) -> None:
    env, calls = _machine(tmp_path, uid=0)
    done = _run("bogus", env)
    assert done.returncode == 2 and "usage" in done.stderr and not calls.exists()
