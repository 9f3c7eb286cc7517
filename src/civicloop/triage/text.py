"""Text normalisation and tokenisation for the triage classifier.

* :func:`normalize` — Unicode NFKC (full-width letters, digits and punctuation → half-width), lower
  case, and personal or volatile spans replaced by placeholder tokens: URLs → ``xxurl``, e-mail
  addresses → ``xxemail``, 18-digit resident ID numbers → ``xxidno``, mobile and landline phone
  numbers → ``xxphone``. The placeholders are plain ASCII words, so jieba keeps each one whole.
* :func:`is_presegmented` — whether a text is already segmented (Chinese words separated by spaces,
  as jieba output joined with spaces is).
* :func:`tokenize` — tokens of one text: whitespace split for pre-segmented text, jieba's precise mode
  (rjieba, the Rust port of jieba) for raw Chinese, a word regex for text without Chinese.
  Tokens with no letter, digit or Han character (punctuation, symbols) are dropped.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import islice
from typing import Literal

import rjieba

PreSegmented = Literal["auto", "yes", "no"]
PRESEGMENTED_CHOICES: tuple[str, ...] = ("auto", "yes", "no")

# Han ideographs (CJK extension A, unified, compatibility), as regex escapes.
_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_RE = re.compile(f"[{_HAN}]")
_HAN_SPACE_HAN = re.compile(f"(?<=[{_HAN}])[ \t]+(?=[{_HAN}])")
_HAN_HAN = re.compile(f"[{_HAN}](?=[{_HAN}])")
_WORDLIKE = re.compile(rf"[\w{_HAN}]")
_LATIN_WORD = re.compile(rf"[{_HAN}]|[^\W_]+(?:['’][^\W_]+)*")
_SPACES = re.compile(r"\s+")

# A URL ends at a space, a quote or bracket, or Chinese punctuation (，。；！？、）as regex escapes).
_URL = re.compile(r"(?:https?://|ftp://|www\.)[^\s<>\"'\uff0c\u3002\uff1b\uff01\uff1f\u3001\uff09)]+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# One scan for the three number patterns: resident ID (18 characters, the last a digit or x),
# mobile (optionally +86, 11 digits, optional separators) and landline (area code, 7–8 digits, extension).
# The leading lookahead lets the scan skip, with one test, the positions where none of the three can
# start (every match begins with a digit, "+" or "("): 5× faster on real messages, same matches.
_NUMBERS = re.compile(
    r"(?=[\d+(])(?:(?P<idno>(?<![0-9a-z])\d{17}[\dx](?![0-9a-z]))"
    r"|(?P<phone>(?<!\d)(?:\+?86[- ]?)?1[3-9]\d[- ]?\d{4}[- ]?\d{4}(?!\d)"
    r"|(?<!\d)(?:\(0\d{2,3}\)|0\d{2,3})[- ]?\d{7,8}(?:-\d{1,5})?(?!\d)))"
)
_DIGITS = re.compile(r"\d{3}")

PLACEHOLDERS = ("xxurl", "xxemail", "xxidno", "xxphone")

# Pre-segmented detection: among adjacent Han-character pairs, the share separated by whitespace.
# Raw Chinese has almost none; jieba output joined with spaces has about half (words average ~1.7
# characters), so a cut at 0.2 leaves a wide margin on both sides. The first 400 characters decide.
_SEGMENTED_SHARE = 0.2
_MIN_HAN_PAIRS = 2
_DETECT_CHARS = 400


# Runs of everything but the common Han ideographs. Those ideographs are NFKC-stable starters that
# never compose with a neighbour, so NFKC of a text is the NFKC of each run between them, the
# ideographs left as they are: for Chinese the runs are short (punctuation, numbers), which halves the
# cost of normalising (49 → 26 µs for a 337-character message).
_NOT_HAN_RUN = re.compile(r"[^\u3400-\u4dbf\u4e00-\u9fff]+")


def _nfkc_run(match: re.Match[str]) -> str:
    return unicodedata.normalize("NFKC", match.group())


def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, faster on Chinese text (same result)."""
    if unicodedata.is_normalized("NFKC", text):
        return text
    return _NOT_HAN_RUN.sub(_nfkc_run, text)


def normalize(text: str) -> str:
    """NFKC + lower case + placeholders for URLs, e-mails, ID numbers and phone numbers."""
    text = nfkc(text).lower()
    if "http" in text or "www." in text or "ftp://" in text:
        text = _URL.sub(" xxurl ", text)
    if "@" in text:
        text = _EMAIL.sub(" xxemail ", text)
    if _DIGITS.search(text):
        text = _NUMBERS.sub(_number_placeholder, text)
    return text


def _number_placeholder(match: re.Match[str]) -> str:
    return " xxidno " if match.lastgroup == "idno" else " xxphone "


def is_presegmented(text: str) -> bool:
    """True if the Han characters of ``text`` are mostly separated by spaces into words.

    Text without (enough) Chinese is reported as not segmented: whitespace already separates its words.
    """
    text = text[:_DETECT_CHARS]
    spaced = len(_HAN_SPACE_HAN.findall(text))
    if spaced == 0:
        return False
    # Only whether ``joined`` exceeds what the share allows matters, so counting stops there: raw text
    # with a space or two (title, body) is settled after a few pairs instead of all of them.
    limit = int(spaced / _SEGMENTED_SHARE) + 1  # more joined pairs than this: the share is below the cut
    joined = sum(1 for _ in islice(_HAN_HAN.finditer(text), limit))
    pairs = spaced + joined
    return pairs >= _MIN_HAN_PAIRS and spaced / pairs >= _SEGMENTED_SHARE


def _wordlike(token: str) -> bool:
    """Has a letter, digit or Han character. ``isalnum`` (C, no regex) settles almost every token —
    Han words are alphanumeric — so the regex runs only on mixed tokens such as ``3.5`` or ``a-b``."""
    return token.isalnum() or _WORDLIKE.search(token) is not None


def segment(text: str) -> list[str]:
    """Raw Chinese → words with jieba's precise mode (HMM on, for unknown words).

    rjieba is the Rust port of jieba (jieba-rs: the same dictionary and algorithm). On the 7,374
    development messages 99 % of texts segment exactly as Python jieba 0.42 does (the rest differ in
    how dotted numbers split) at about 18× its speed: that is what takes raw-text classification past
    2,000 messages/s on one core (docs/triage.md).
    """
    # inline (no call per token): isalnum settles nearly every token, the regex only mixed ones
    return [t for t in rjieba.cut(text) if t.isalnum() or _WORDLIKE.search(t)]


def tokenize(text: str, pre_segmented: PreSegmented = "auto") -> list[str]:
    """Normalised tokens of one message.

    ``pre_segmented``: ``"yes"`` — split on whitespace; ``"no"`` — segment Chinese with jieba;
    ``"auto"`` — decide per text with :func:`is_presegmented`.
    """
    text = normalize(text)
    if pre_segmented == "yes" or (pre_segmented == "auto" and is_presegmented(text)):
        return [t for t in text.split() if _wordlike(t)]
    if _HAN_RE.search(text):
        return segment(text)
    return _LATIN_WORD.findall(text)


def char_stream(tokens: list[str]) -> str:
    """The tokens joined for character n-grams: Han characters run together (the boundaries a
    segmenter chose are not trusted), other tokens kept apart by one space."""
    return _HAN_SPACE_HAN.sub("", " ".join(tokens))
