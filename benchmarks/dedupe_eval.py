"""Evaluation harness for text duplicates: any CSV with a text column, or generated hotline messages.

    .venv/bin/python -m benchmarks.dedupe_eval FILE.csv --text-col COL [--time-col COL] [--window-days 7]
    .venv/bin/python -m benchmarks.dedupe_eval --generate 20000

The clusters come from the command users run (``civicloop triage dedupe … --json``, in a subprocess), so
the contract is measured, not a library shortcut. The truth is defined independently of the detector's
own normalisation:

* **exact/whitespace duplicates** — rows whose texts are equal once every whitespace character is
  removed (``"".join(text.split())``), empty texts excluded. *Recall* = share of such pairs that the
  clusters put together (with ``--time-col``: only pairs reported within the window of each other, the
  question the intake asks).
* **clearly different** — a merged pair (two rows of one cluster) whose character-bigram Jaccard, on the
  whitespace-free raw texts, is below 0.5. *clearly_different_share* = such pairs / merged pairs.

Generated data (``--generate N``, :func:`generate`) also carries the truth of its planted variants:
exact copies, whitespace-only variants, punctuation/width/greeting variants and small edits (near
duplicates), so recall is reported per kind.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

CLEARLY_DIFFERENT = 0.5

# ---- generated hotline messages (no real message is copied: every text is composed here) ---------------

_SYL = "华安康泰和平兴隆福寿长青新民建设文化胜利光明幸福东西南北中山河湖海春秋金银锦绣阳明月星辰龙凤桂兰"
_PLACE_KIND = ["小区", "花园", "家园", "路", "街", "巷", "广场", "市场", "学校", "公园", "新村", "大厦", "苑"]
_WHERE = [
    "门口",
    "东门",
    "西侧",
    "北门对面",
    "南侧路口",
    "附近",
    "旁边",
    "楼下",
    "入口处",
    "停车场",
    "公交站旁",
]
_PROBLEMS = [
    "路灯不亮",
    "垃圾堆放无人清理",
    "井盖缺失",
    "下水道堵塞污水外溢",
    "占道经营",
    "噪音扰民",
    "违章停车堵路",
    "树木倒伏",
    "路面塌陷",
    "广告牌松动",
    "施工扬尘严重",
    "油烟扰民",
    "乱搭乱建",
    "绿化带被毁",
    "共享单车乱停",
    "积水严重",
    "消防通道被占",
    "外墙脱落",
    "电线乱拉",
    "渣土车撒漏",
    "公厕无人管理",
    "流浪犬伤人隐患",
    "交通信号灯故障",
    "人行道砖松动",
    "化粪池满溢",
    "夜间施工扰民",
    "小广告乱贴",
    "河道有漂浮物",
    "水管爆裂",
    "暖气不热",
]
_DETAIL = [
    "已经持续{n}天了",
    "每天晚上{n}点以后特别严重",
    "多次反映没有结果",
    "老人孩子出行很不安全",
    "影响居民正常生活",
    "物业不管",
    "存在很大安全隐患",
    "希望有关部门尽快处理",
    "周边居民意见很大",
    "前几天刚有人摔倒",
    "大约{n}米长的一段",
    "附近有{n}所学校",
    "下雨天更加严重",
    "白天晚上都有",
    "已经拨打过{n}次电话",
    "社区说不归他们管",
    "车辆通行困难",
    "气味难闻",
    "晚上看不清路",
    "有关单位一直推诿",
]
_OPEN = ["", "您好，", "你好，", "市民来电反映：", "尊敬的领导：", ""]
_CLOSE = ["", "谢谢！", "请尽快处理。", "盼复。", "", "麻烦了。"]


def _place(rng: random.Random) -> str:
    return "".join(rng.choice(_SYL) for _ in range(rng.randint(2, 3))) + rng.choice(_PLACE_KIND)


def _message(rng: random.Random) -> str:
    details = rng.sample(_DETAIL, rng.randint(1, 3))
    body = "，".join(d.format(n=rng.randint(2, 30)) for d in details)
    place = _place(rng)
    text = f"{place}{rng.choice(_WHERE)}{rng.choice(_PROBLEMS)}，{body}"
    if rng.random() < 0.4:
        text += f"，具体位置在{_place(rng)}{rng.choice(_WHERE)}"
    return rng.choice(_OPEN) + text + "。" + rng.choice(_CLOSE)


def _whitespace_variant(rng: random.Random, text: str) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        chars.insert(rng.randint(0, len(chars)), rng.choice([" ", "  ", "\n", "\t", "\u3000"]))
    return "".join(chars)


_WIDE = str.maketrans({"，": ",", "。": ".", "：": ":", "！": "!", "；": ";"})


def _format_variant(rng: random.Random, text: str) -> str:
    """Punctuation, width and greeting changes: the same words."""
    out = text.translate(_WIDE) if rng.random() < 0.5 else text.replace("，", "、")
    for a, b in (("您好，", ""), ("谢谢！", ""), ("。", "！")):
        if rng.random() < 0.5:
            out = out.replace(a, b)
    return ("你好，" if rng.random() < 0.3 else "") + out


def _edit_variant(rng: random.Random, text: str) -> str:
    """A near duplicate: the same complaint retold with a small edit (a clause added or dropped)."""
    if rng.random() < 0.5:
        return text.rstrip("。！") + "，" + rng.choice(_DETAIL).format(n=rng.randint(2, 30)) + "。"
    cut = text.rfind("，")
    return text[:cut] + "。" if cut > len(text) // 2 else text + "麻烦尽快。"


def generate(n: int, seed: int = 16, days: float = 60.0) -> list[dict[str, Any]]:
    """*n* messages over *days*: 70 % originals; the rest planted copies of an earlier message within
    three days — exact (8 %), whitespace-only (8 %), punctuation/width/greeting (7 %), small edits (7 %).
    Rows: ``text``, ``time`` (ISO, naive local), ``group`` (the original's row), ``kind``."""
    rng = random.Random(seed)
    start = datetime(2026, 3, 1, 8, 0)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        at = start + timedelta(seconds=i * days * 86_400 / max(n, 1))
        r = rng.random()
        originals = [j for j in range(max(0, i - 400), i) if rows[j]["kind"] == "original"]
        if r < 0.70 or not originals:
            rows.append({"text": _message(rng), "time": at, "group": i, "kind": "original"})
            continue
        j = rng.choice(originals[-200:])
        src = rows[j]["text"]
        if r < 0.78:
            kind, text = "exact", src
        elif r < 0.86:
            kind, text = "whitespace", _whitespace_variant(rng, src)
        elif r < 0.93:
            kind, text = "format", _format_variant(rng, src)
        else:
            kind, text = "edit", _edit_variant(rng, src)
        rows.append({"text": text, "time": at, "group": j, "kind": kind})
    return rows


def write_csv(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "time"])
        for i, r in enumerate(rows):
            w.writerow([f"G{i:07d}", r["text"], r["time"].isoformat(sep=" ", timespec="seconds")])
    return path


# ---- the measures -------------------------------------------------------------------------------


def _squeeze(text: str) -> str:
    return "".join(text.split())


def bigram_jaccard(a: str, b: str) -> float:
    sa, sb = _squeeze(a), _squeeze(b)
    ga = {sa[i : i + 2] for i in range(len(sa) - 1)} or {sa}
    gb = {sb[i : i + 2] for i in range(len(sb) - 1)} or {sb}
    return len(ga & gb) / len(ga | gb) if ga and gb else 0.0


def _pairs(groups: Sequence[Sequence[int]]) -> set[tuple[int, int]]:
    return {(a, b) for g in groups for a, b in itertools.combinations(sorted(g), 2)}


def evaluate(
    texts: Sequence[str],
    clusters: Sequence[Sequence[int]],
    *,
    times: Sequence[datetime | None] | None = None,
    window: timedelta | None = None,
    planted: dict[str, list[tuple[int, int]]] | None = None,
) -> dict[str, Any]:
    """Recall of exact/whitespace duplicate pairs, share of merged pairs that are clearly different;
    with *planted* (kind → pairs), recall per planted kind."""
    by_text: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(texts):
        if _squeeze(t):
            by_text[_squeeze(t)].append(i)
    truth = _pairs([g for g in by_text.values() if len(g) > 1])
    if times is not None and window is not None:
        truth = {
            (a, b)
            for a, b in truth
            if times[a] is not None and times[b] is not None and abs(times[a] - times[b]) <= window  # type: ignore[operator]
        }
    merged = _pairs(clusters)
    different = sum(1 for a, b in merged if bigram_jaccard(texts[a], texts[b]) < CLEARLY_DIFFERENT)
    out: dict[str, Any] = {
        "rows": len(texts),
        "exact_whitespace_groups": sum(1 for g in by_text.values() if len(g) > 1),
        "exact_whitespace_pairs": len(truth),
        "exact_whitespace_recall": round(len(truth & merged) / len(truth), 4) if truth else None,
        "clusters": len(clusters),
        "rows_in_clusters": sum(len(c) for c in clusters),
        "merged_pairs": len(merged),
        "clearly_different_pairs": different,
        "clearly_different_share": round(different / len(merged), 4) if merged else 0.0,
    }
    if planted:
        out["planted_recall"] = {
            kind: round(len(set(p) & merged) / len(p), 4) if p else None for kind, p in planted.items()
        }
    return out


def run_cli(
    csv_path: Path, text_col: str, time_col: str | None, window_days: float
) -> tuple[list[list[int]], float]:
    """``civicloop triage dedupe`` on the file: its clusters and the wall time in seconds."""
    cmd = [sys.executable, "-m", "civicloop.cli.main", "triage", "dedupe", "--data", str(csv_path),
           "--text-col", text_col, "--window-days", str(window_days), "--json"]  # fmt: skip
    if time_col:
        cmd += ["--time-col", time_col]
    started = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if res.returncode != 0:
        raise RuntimeError(f"civicloop triage dedupe failed ({res.returncode}): {res.stderr.strip()}")
    return json.loads(res.stdout)["clusters"], took


def _read(csv_path: Path, text_col: str, time_col: str | None) -> tuple[list[str], list[datetime | None]]:
    from civicloop.cli.triage import _parse_time

    csv.field_size_limit(2**31 - 1)
    texts: list[str] = []
    times: list[datetime | None] = []
    with csv_path.open(encoding="utf-8-sig", newline="") as fh:
        for rec in csv.DictReader(fh):
            texts.append(rec[text_col] or "")
            times.append(_parse_time(rec[time_col]) if time_col and rec[time_col] else None)
    return texts, times


def evaluate_csv(
    csv_path: Path, text_col: str, time_col: str | None = None, window_days: float = 7.0
) -> dict[str, Any]:
    clusters, took = run_cli(csv_path, text_col, time_col, window_days)
    texts, times = _read(csv_path, text_col, time_col)
    window = timedelta(days=window_days) if time_col else None
    return {
        "file": csv_path.name,
        "text_col": text_col,
        "time_col": time_col,
        **evaluate(texts, clusters, times=times if time_col else None, window=window),
        "cli_seconds": round(took, 2),
    }


def evaluate_generated(n: int, seed: int = 16, *, with_time: bool = True) -> dict[str, Any]:
    rows = generate(n, seed)
    planted: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for i, r in enumerate(rows):
        if r["kind"] != "original":
            planted[r["kind"]].append((r["group"], i))
    with tempfile.TemporaryDirectory() as tmp:
        path = write_csv(rows, Path(tmp) / "generated.csv")
        clusters, took = run_cli(path, "text", "time" if with_time else None, 7.0)
    texts = [r["text"] for r in rows]
    times: list[datetime | None] = [r["time"] for r in rows]
    result = evaluate(
        texts, clusters, times=times if with_time else None, window=timedelta(days=7) if with_time else None,
        planted=dict(planted),
    )  # fmt: skip
    return {"file": f"generated (n={n}, seed={seed})", "time_col": "time" if with_time else None, **result,
            "cli_seconds": round(took, 2)}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.dedupe_eval", description=__doc__.split("\n")[0])
    p.add_argument("csv", nargs="?", type=Path)
    p.add_argument("--text-col")
    p.add_argument("--time-col")
    p.add_argument("--window-days", type=float, default=7.0)
    p.add_argument("--generate", type=int, help="evaluate on N generated messages instead")
    a = p.parse_args(argv)
    if a.generate:
        out = evaluate_generated(a.generate)
    elif a.csv and a.text_col:
        out = evaluate_csv(a.csv, a.text_col, a.time_col, a.window_days)
    else:
        p.error("give CSV --text-col COL, or --generate N")
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
