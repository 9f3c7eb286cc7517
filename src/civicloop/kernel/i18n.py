"""Bilingual messages (简体中文 default, English).

Messages are keyed; every key exists in both languages (a unit test checks it). Formatting uses
``str.format`` fields so the same structured error renders as a sentence in either language.
"""

from __future__ import annotations

from typing import Final

DEFAULT_LOCALE: Final = "zh-CN"
LOCALES: Final = ("zh-CN", "en")

_MESSAGES: dict[str, dict[str, str]] = {
    # domain errors
    "illegal_action": {
        "zh-CN": "案卷 {case} 处于「{state_zh}」，角色「{role_zh}」不能执行「{action_zh}」",
        "en": "Case {case} is {state_en}: role {role_en} cannot {action_en}",
    },
    "role_not_allowed": {
        "zh-CN": "角色「{role_zh}」无权执行「{action_zh}」（允许：{allowed_zh}）",
        "en": "Role {role_en} may not {action_en} (allowed: {allowed_en})",
    },
    "missing_field": {
        "zh-CN": "「{action_zh}」缺少必填字段 {field}",
        "en": "{action_en} requires the field {field}",
    },
    "invalid_field": {
        "zh-CN": "字段 {field} 无效：{reason_zh}",
        "en": "Field {field} is invalid: {reason_en}",
    },
    "time_backwards": {
        "zh-CN": "案卷 {case} 的时间不能倒流：{at} 早于上一事件 {last}",
        "en": "Time cannot run backwards on case {case}: {at} is before the last event at {last}",
    },
    "case_not_found": {
        "zh-CN": "案卷 {case} 不存在",
        "en": "Case {case} does not exist",
    },
    "out_of_scope": {
        "zh-CN": "用户 {actor} 无权处理案卷 {case}（不在其负责范围内）",
        "en": "User {actor} may not act on case {case} (outside their scope)",
    },
    "concurrent_change": {
        "zh-CN": "案卷 {case} 已被他人修改，请刷新后重试",
        "en": "Case {case} was changed by someone else; reload and try again",
    },
}


def message(key: str, locale: str = DEFAULT_LOCALE, **fields: object) -> str:
    """Render message *key* in *locale* (falls back to Chinese)."""
    texts = _MESSAGES[key]
    template = texts.get(locale) or texts[DEFAULT_LOCALE]
    return template.format(**fields)


def message_keys() -> dict[str, dict[str, str]]:
    return _MESSAGES


def normalise_locale(value: str | None) -> str:
    """Map 'en-US', 'en', 'zh', 'zh-Hans' … onto a supported locale."""
    if not value:
        return DEFAULT_LOCALE
    return "en" if value.lower().startswith("en") else DEFAULT_LOCALE
