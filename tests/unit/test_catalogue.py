"""The one catalogue of words (kernel/messages/*.toml) and the text that has not reached it yet.

* Every key has a text in every locale, no text is empty, and the ``str.format`` fields are the same in
  each locale (a message rendered in English cannot miss a field the Chinese one has).
* User-facing text lives in the catalogue: Chinese in a Python string (docstrings aside), a JavaScript
  file or an HTML template, and English handed to an output (CLI printing, HTTP errors, refusals), count
  as text outside it. Modules not yet moved are listed with their counts in ``catalogue_debt.json``: a
  module not listed, or one whose count grew, fails; a count that shrank must be lowered in the file
  (``python -m tests.unit.test_catalogue --record``), so the debt only goes down.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections import Counter
from pathlib import Path

from civicloop.kernel import i18n

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "civicloop"
DEBT = Path(__file__).with_name("catalogue_debt.json")

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uff01-\uff5e\u3001-\u3011]")
ENGLISH_PHRASE = re.compile(r"[A-Za-z]{2,}[,;:]?\s+[A-Za-z]{2,}\s+[A-Za-z]{2,}")
#: Calls whose string arguments reach a person: CLI output, HTTP answers, refusals.
OUTPUT_CALLS = frozenset(
    {"fail", "echo", "secho", "print", "HTTPException", "InvalidField", "BadParameter", "Exit", "problem"}
)
#: Where Chinese belongs by design: the catalogue itself is TOML; these hold language *data* (words a
#: parser looks for, names the simulator invents), not messages. Keep this list short.
LANGUAGE_DATA: frozenset[str] = frozenset()


def _docstrings(tree: ast.AST) -> set[int]:
    """Strings that are statements of their own: docstrings, and the attribute docstrings after a name."""
    return {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    }


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _strings(node: ast.AST) -> list[str]:
    """The literal text of a str constant or an f-string (its constant parts)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [
            "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
        ]
    return []


def python_offences(source: str) -> int:
    """Chinese literals outside docstrings, plus English phrases passed straight to an output call."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in docs and CJK.search(node.value):
                count += 1
        elif isinstance(node, ast.Call) and _call_name(node) in OUTPUT_CALLS:
            args = list(node.args) + [k.value for k in node.keywords]
            for arg in args:
                for text in _strings(arg):
                    if ENGLISH_PHRASE.search(text) and not CJK.search(text):
                        count += 1
    return count


_COMMENTS = re.compile(r"/\*.*?\*/|<!--.*?-->|^\s*//[^\n]*", re.S | re.M)


def web_offences(source: str) -> int:
    """Lines of a script or template with Chinese outside comments (comments, like docstrings, may)."""
    return sum(1 for line in _COMMENTS.sub("", source).splitlines() if CJK.search(line))


def scan() -> Counter[str]:
    found: Counter[str] = Counter()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = str(path.relative_to(PACKAGE))
        if rel in LANGUAGE_DATA:
            continue
        n = python_offences(path.read_text(encoding="utf-8"))
        if n:
            found[rel] = n
    web = PACKAGE / "web"
    for path in sorted([*web.glob("static/js/*.js"), *web.glob("templates/*.html")]):
        n = web_offences(path.read_text(encoding="utf-8"))
        if n:
            found[str(path.relative_to(PACKAGE))] = n
    return found


# ---------------------------------------------------------------------------------------------- tests


def test_every_key_has_every_locale_with_the_same_fields() -> None:
    problems = []
    for key, texts in i18n.messages().items():
        missing = [loc for loc in i18n.LOCALES if not texts.get(loc, "").strip()]
        if missing:
            problems.append(f"{key}: no text for {', '.join(missing)}")
            continue
        extra = set(texts) - set(i18n.LOCALES)
        if extra:
            problems.append(f"{key}: unknown locale(s) {sorted(extra)}")
        fields = {loc: i18n.fields_of(texts[loc]) for loc in i18n.LOCALES}
        if len({frozenset(f) for f in fields.values()}) > 1:
            problems.append(f"{key}: fields differ between locales {fields}")
    assert not problems, "\n".join(problems)


def test_catalogue_renders_in_both_languages_and_fails_on_unknown_keys() -> None:
    zh = i18n.t("errors.case_not_found", "zh-CN", case="TY-2026-0000001")
    en = i18n.t("errors.case_not_found", "en", case="TY-2026-0000001")
    assert "TY-2026-0000001" in zh and "TY-2026-0000001" in en and zh != en
    assert CJK.search(zh) and not CJK.search(en)
    with i18n.use_locale("en-US"):
        assert i18n.t("errors.case_not_found", case="x") == i18n.t("errors.case_not_found", "en", case="x")
    try:
        i18n.Msg("no.such.key")
    except i18n.UnknownMessage:
        pass
    else:  # pragma: no cover - the assertion below explains
        raise AssertionError("an unknown key must be refused when the message is made")


def test_browser_catalogue_is_the_same_catalogue() -> None:
    for locale in i18n.LOCALES:
        served = i18n.for_browser(locale)
        assert set(served) == set(i18n.messages())
        assert all(served[k] == v[locale] for k, v in i18n.messages().items())


def test_scanner_sees_chinese_and_english_output_literals() -> None:
    sample = (
        '"""文档字符串 is fine."""\n'
        'def f(x):\n    """也可以 here."""\n'
        '    fail("数据库不存在")\n'
        '    console.print(f"no city in the database: {x}")\n'
        '    fail(t("cli.no_city"))\n'
        '    log.info("quiet words for the log file")\n'
    )
    assert python_offences(sample) == 2
    assert web_offences("/* 注释 */\nconst a = '受理';\n// 中文注释\n<!-- 注释 -->\n") == 1


def test_no_user_facing_text_outside_the_catalogue() -> None:
    allowed: dict[str, int] = json.loads(DEBT.read_text(encoding="utf-8")) if DEBT.exists() else {}
    found = scan()
    grew = {k: (allowed.get(k, 0), n) for k, n in found.items() if n > allowed.get(k, 0)}
    shrank = {k: (n, found.get(k, 0)) for k, n in allowed.items() if found.get(k, 0) < n}
    messages = []
    if grew:
        messages.append(
            "text outside the catalogue (module: allowed → found); move it to kernel/messages/*.toml:\n"
            + "\n".join(f"  {k}: {a} → {n}" for k, (a, n) in sorted(grew.items()))
        )
    if shrank:
        messages.append(
            "less debt than recorded — lower it: python -m tests.unit.test_catalogue --record\n"
            + "\n".join(f"  {k}: {a} → {n}" for k, (a, n) in sorted(shrank.items()))
        )
    assert not messages, "\n".join(messages)


if __name__ == "__main__" and "--record" in sys.argv:
    DEBT.write_text(json.dumps(dict(sorted(scan().items())), indent=1, ensure_ascii=False) + "\n")
    print(f"recorded {sum(scan().values())} literals in {len(scan())} files → {DEBT}")
