"""The trainable triage text classifier (梳理/研判): message text → category or department, with a
calibrated confidence and an automatic-routing threshold chosen by cross-validation.

How it works (docs/triage.md has the measurements):

1. **Tokens** — :func:`civicloop.triage.text.tokenize`: normalisation, then jieba (rjieba) for raw Chinese,
   whitespace for pre-segmented text, a word regex for English.
2. **Features** — five TF-IDF blocks (sublinear tf, smooth idf, ``min_df=2``, L2-normalised per block,
   then weighted): words (1.0), Han/other characters (0.5), character bigrams (1.0), and the first
   ``head_tokens`` tokens — usually the title — again as words (0.5) and characters + bigrams (0.5).
3. **Classifier** — one-vs-rest least-squares (ridge) classification with balanced class weights,
   solved in the dual by a conjugate gradient (fast when there are more features than messages, as
   with text). Each label's features are first scaled (``scale_power``, default 0.5; 0 = off) by
   |log-count ratio|^power of their presence in the label's messages against the others'
   (NBSVM-style); the scales are folded into the coefficients, so prediction costs the same.
4. **Confidence** — per-label isotonic regression of the ridge scores, fitted on *out-of-fold* scores
   of a stratified k-fold cross-validation (default 5), then normalised to sum to 1. The score of a
   prediction is the calibrated probability of its label.
5. **Threshold** — the calibrated out-of-fold probabilities (each fold calibrated by the other
   folds' scores) give the cross-validated metrics; the automatic-routing threshold is the lowest
   confidence at which a one-sided Clopper–Pearson lower bound (default 99 %) of the out-of-fold
   precision of the messages at or above it is still ≥ the target (default 98 %): the precision holds
   on new messages, not only on average. Evaluation data never touch it.

The model file is a zip of JSON (metadata, vocabularies) and ``.npy`` arrays read back with
``allow_pickle=False``: loading a model never runs code from the file (unlike pickle/joblib), and it
does not depend on scikit-learn's pickle compatibility across versions (the fitted state is plain
arrays; scikit-learn is needed only to train).
"""

from __future__ import annotations

import csv
import hashlib
import importlib.metadata
import io
import json
import math
import platform
import sys
import time
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain, repeat
from pathlib import Path
from typing import Any, TextIO, cast

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp  # type: ignore[import-untyped]

from civicloop.triage.text import PRESEGMENTED_CHOICES, PreSegmented, tokenize

FORMAT = "civicloop.triage.classifier"
FORMAT_VERSION = 1
SUPPORTED_FORMAT_VERSIONS = frozenset({1})

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class TriageError(ValueError):
    """A problem with the training/evaluation data or the model that the user can fix."""


class DataError(TriageError):
    """Bad input data. ``option`` names the CLI option concerned (for usage errors), if any."""

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class ModelFormatError(TriageError):
    """The file is not a triage model this version of civicloop can read."""


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float  # calibrated probability of ``label``
    top: list[tuple[str, float]]  # the best labels with their probabilities, best first
    auto: bool  # score ≥ the model's automatic-routing threshold


# ----------------------------------------------------------------------------- features

# (name, weight, max_df) of the TF-IDF blocks, in column order. Word blocks are counted with a
# str → column dict; character blocks with sorted int64 keys (code point, or two code points for a
# bigram), which numpy looks up for a whole batch at once.
_BLOCKS: tuple[tuple[str, float, float], ...] = (
    ("word", 1.0, 0.9),
    ("char1", 0.5, 0.9),
    ("char2", 1.0, 0.9),
    ("head_word", 0.5, 1.0),
    ("head_char", 0.5, 1.0),
)
_WORD_BLOCKS = (0, 3)
_CHAR_BLOCKS = (1, 2, 4)
_MIN_DF = 2
_CHUNK = 4000
_HAN_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF))  # as in civicloop.triage.text


@dataclass
class _Vocabulary:
    """Term → column, per block: ``words[0]`` word, ``words[1]`` head_word (dicts); ``chars[0]``
    char1, ``chars[1]`` char2, ``chars[2]`` head_char (sorted int64 keys; the column is the rank)."""

    words: list[dict[str, int]] = field(default_factory=lambda: [{}, {}])
    chars: list[IntArray] = field(default_factory=lambda: [np.zeros(0, np.int64)] * 3)
    _index: dict[int, _KeyIndex] = field(default_factory=dict, repr=False, compare=False)

    def sizes(self) -> list[int]:
        w, c = [len(v) for v in self.words], [len(v) for v in self.chars]
        return [w[0], c[0], c[1], w[1], c[2]]

    def char_index(self, slot: int) -> _KeyIndex:
        """The hash index of ``chars[slot]`` (built on first use; the arrays are not changed after)."""
        index = self._index.get(slot)
        if index is None or index.size != len(self.chars[slot]):
            index = self._index[slot] = _KeyIndex(self.chars[slot])
        return index


_HASH_MULTIPLIER = np.int64(0x9E3779B97F4A7C15 - (1 << 64))  # Fibonacci hashing, as a signed int64


class _KeyIndex:
    """Sorted int64 keys → their rank, by an open-addressing hash table probed with numpy.

    What ``np.searchsorted(keys, needles)`` answers, but for needles in text order it is ≈ 6× faster:
    a binary search over 130,000 bigram keys jumps around memory ~17 times per needle, a hash probe
    about once (load factor ≤ 0.25, linear probing). Keys must be ≥ 0 (-1 marks an empty slot).
    """

    def __init__(self, keys: IntArray) -> None:
        self.size = len(keys)
        self._bits = max(4, int(4 * max(len(keys), 1) - 1).bit_length())
        n_slots = 1 << self._bits
        self._keys = np.full(n_slots, -1, dtype=np.int64)
        self._ranks = np.zeros(n_slots, dtype=np.int64)
        pending = np.arange(len(keys), dtype=np.int64)
        slot = self._slots(keys)
        while len(pending):  # place each key in the first free slot from its hash on (linear probing)
            at = slot[pending]
            free = self._keys[at] == -1
            won_slot, first = np.unique(at[free], return_index=True)  # one key per free slot per round
            winners = pending[free][first]
            self._keys[won_slot] = keys[winners]
            self._ranks[won_slot] = winners
            placed = np.zeros(len(keys), dtype=bool)
            placed[winners] = True
            pending = pending[~placed[pending]]
            slot[pending] = (slot[pending] + 1) & (n_slots - 1)

    def _slots(self, keys: IntArray) -> IntArray:
        with np.errstate(over="ignore"):
            h = (keys * _HASH_MULTIPLIER) >> np.int64(64 - self._bits)
        return cast(IntArray, h & np.int64((1 << self._bits) - 1))

    def lookup(self, needles: IntArray) -> IntArray:
        """Rank of each needle among the keys, -1 for a needle that is not a key."""
        out = np.full(len(needles), -1, dtype=np.int64)
        todo = np.arange(len(needles), dtype=np.int64)
        slot = self._slots(needles)
        mask = np.int64(len(self._keys) - 1)
        while len(todo):
            found = self._keys[slot]
            hit = found == needles[todo]
            out[todo[hit]] = self._ranks[slot[hit]]
            more = ~hit & (found != -1)
            todo, slot = todo[more], (slot[more] + 1) & mask
        return out


def _char_keys(streams: list[str]) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """Character unigram and bigram keys of token strings (tokens joined by single spaces), with the
    row of each: the numpy equivalent of running :func:`civicloop.triage.text.char_stream` and taking
    the characters and within-run bigrams of each message.

    A unigram key is the code point; a bigram key is ``cp1 << 21 | cp2`` (always ≥ 2²¹, so both kinds
    can share one block). Spaces between two Han characters are dropped (Han runs join up); other
    spaces, and message boundaries, end a run.
    """
    cp = np.frombuffer("\n".join(streams).encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    row = np.cumsum(cp == 10)
    han = np.zeros(len(cp), dtype=bool)
    for lo, hi in _HAN_RANGES:
        han |= (cp >= lo) & (cp <= hi)
    space = cp == 32
    drop = np.zeros(len(cp), dtype=bool)
    if len(cp) > 2:
        drop[1:-1] = space[1:-1] & han[:-2] & han[2:]
    cp, row = cp[~drop], row[~drop]
    inside = (cp != 32) & (cp != 10)
    pair = inside[:-1] & inside[1:]
    bigram = (cp[:-1][pair] << 21) | cp[1:][pair]
    return cp[inside], row[inside], bigram, row[:-1][pair]


def _count_keys(keys: IntArray, rows: IntArray, vocab: _KeyIndex, n_rows: int) -> Any:
    """Count matrix (CSR, float64) of ``keys`` looked up in the key index ``vocab``."""
    cols = vocab.lookup(keys)
    known = cols >= 0
    data = np.ones(int(known.sum()), dtype=np.float64)
    m = sp.csr_matrix((data, (rows[known], cols[known])), shape=(n_rows, vocab.size))
    m.sum_duplicates()
    return m


def _count_words(docs: list[list[str]], vocab: dict[str, int], grow: bool) -> Any:
    """Count matrix (CSR, float64) of token lists against ``vocab`` (extended when ``grow``)."""
    flat = list(chain.from_iterable(docs))
    if grow:
        for f in dict.fromkeys(flat):  # new terms get the next columns, in order of appearance
            if f not in vocab:
                vocab[f] = len(vocab)
    cols = np.fromiter(map(vocab.get, flat, repeat(-1)), dtype=np.int64, count=len(flat))
    rows = np.repeat(np.arange(len(docs), dtype=np.int64), [len(d) for d in docs])
    known = cols >= 0
    data = np.ones(int(known.sum()), dtype=np.float64)
    m = sp.csr_matrix((data, (rows[known], cols[known])), shape=(len(docs), len(vocab)))
    m.sum_duplicates()
    return m


def _block_counts(tokens: list[list[str]], vocab: _Vocabulary, head_tokens: int, grow: bool) -> list[Any]:
    """Count matrices of the five blocks, in :data:`_BLOCKS` order. ``grow`` (training) builds the
    vocabulary from these messages; otherwise unknown terms are ignored."""
    heads = [t[:head_tokens] for t in tokens]
    words = [_count_words(docs, vocab.words[i], grow) for i, docs in enumerate((tokens, heads))]
    c1, r1, c2, r2 = _char_keys([" ".join(t) for t in tokens])
    h1, hr1, h2, hr2 = _char_keys([" ".join(t) for t in heads])
    keys = [(c1, r1), (c2, r2), (np.concatenate([h1, h2]), np.concatenate([hr1, hr2]))]
    if grow:
        vocab.chars = [np.unique(k) for k, _ in keys]
    chars = [_count_keys(k, r, vocab.char_index(slot), len(tokens)) for slot, (k, r) in enumerate(keys)]
    return [words[0], chars[0], chars[1], words[1], chars[2]]


def _idf(counts: Any, rows: IntArray | None, max_df: float) -> FloatArray:
    """Smoothed idf from the given rows; 0 for terms with df < 2 or df > max_df·n (dropped)."""
    sub = counts if rows is None else counts[rows]
    n = sub.shape[0]
    df = np.bincount(sub.indices, minlength=counts.shape[1]).astype(np.float64)
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    idf[(df < _MIN_DF) | (df > max_df * n)] = 0.0
    return cast(FloatArray, idf)


def _tfidf(counts: Any, idf: FloatArray, weight: float) -> Any:
    """Sublinear tf × idf, L2-normalised per row, times the block weight."""
    x = counts.copy()
    x.data = (1.0 + np.log(x.data)) * idf[x.indices]
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0.0] = 1.0
    x.data *= np.repeat(weight / norms, np.diff(x.indptr))
    x.eliminate_zeros()
    return x


# ----------------------------------------------------------------------------- ridge


def _ridge_dual(
    x: Any, y: FloatArray, alpha: float, sample_weight: FloatArray, tol: float = 1e-3, max_iter: int = 1000
) -> tuple[FloatArray, FloatArray]:
    """Weighted ridge regression of every column of ``y`` at once, solved in the dual.

    minimises Σ wᵢ (yᵢ − xᵢβ − b)² + α(‖β‖² + b²) — the intercept is a constant feature — via
    (XXᵀ + α W⁻¹) A = Y by Jacobi-preconditioned conjugate gradient on all columns together, then
    β = XᵀA. Returns (coef [n_features × n_targets], intercept [n_targets]).
    """
    n = x.shape[0]
    xa = sp.hstack([x, sp.csr_matrix(np.ones((n, 1)))], format="csr")
    xt = xa.T.tocsr()
    d = alpha / sample_weight
    inv_diag = 1.0 / (np.asarray(xa.multiply(xa).sum(axis=1)).ravel() + d)
    a = np.zeros_like(y)
    r = y.copy()
    z = inv_diag[:, None] * r
    p = z.copy()
    rz = (r * z).sum(axis=0)
    stop = tol * np.linalg.norm(y, axis=0)
    for _ in range(max_iter):
        q = xa @ (xt @ p) + d[:, None] * p
        step = rz / np.maximum((p * q).sum(axis=0), 1e-300)
        a += step * p
        r -= step * q
        if np.all(np.linalg.norm(r, axis=0) <= stop):
            break
        z = inv_diag[:, None] * r
        rz_new = (r * z).sum(axis=0)
        p = z + (rz_new / np.maximum(rz, 1e-300)) * p
        rz = rz_new
    coef = np.asarray(xt @ a)
    return coef[:-1], coef[-1]


def _label_scales(x: Any, y: IntArray, n_classes: int, power: float) -> FloatArray:
    """Per-label feature scales (n_classes × n_features): |log-count ratio|^power of each feature's
    presence in the label's messages against the others' (add-one smoothed), as in NBSVM (Wang &
    Manning 2012). Features that tell the label apart get a larger scale, so the ridge penalty
    shrinks them less."""
    present = x.copy()
    present.data = np.ones_like(present.data)
    counts = np.vstack([np.asarray(present[y == k].sum(axis=0)).ravel() for k in range(n_classes)])
    in_label = counts + 1.0
    elsewhere = counts.sum(axis=0) - counts + 1.0
    ratio = np.log(in_label / in_label.sum(axis=1, keepdims=True)) - np.log(
        elsewhere / elsewhere.sum(axis=1, keepdims=True)
    )
    return cast(FloatArray, np.abs(ratio) ** power)


def _fit_ridge(
    x: Any, y: IntArray, n_classes: int, alpha: float, scale_power: float
) -> tuple[Any, FloatArray]:
    """One-vs-rest balanced ridge of every label: (coef [n_features × n_labels], intercept).

    ``scale_power`` 0: one solve for all labels on ``x``. Otherwise each label is solved on its own
    scaled features x·diag(r) (:func:`_label_scales`) and its coefficients are multiplied back by r,
    so that prediction is the same ``x @ coef + intercept`` either way.
    """
    targets, weights = _targets(y, n_classes), _balanced_weights(y, n_classes)
    if scale_power <= 0.0:
        return _ridge_dual(x, targets, alpha, weights)
    scales = _label_scales(x, y, n_classes, scale_power)
    coef = np.zeros((x.shape[1], n_classes))
    intercept = np.zeros(n_classes)
    for k in range(n_classes):
        beta, b = _ridge_dual((x @ sp.diags(scales[k])).tocsr(), targets[:, k : k + 1], alpha, weights)
        coef[:, k] = scales[k] * beta[:, 0]
        intercept[k] = b[0]
    return coef, intercept


def _targets(y: IntArray, n_classes: int) -> FloatArray:
    t = -np.ones((len(y), n_classes))
    t[np.arange(len(y)), y] = 1.0
    return t


def _balanced_weights(y: IntArray, n_classes: int) -> FloatArray:
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    return (len(y) / (n_classes * counts))[y]


# ----------------------------------------------------------------------------- calibration


def _fit_isotonic(scores: FloatArray, y: IntArray) -> list[tuple[FloatArray, FloatArray]]:
    from sklearn.isotonic import IsotonicRegression

    out = []
    for k in range(scores.shape[1]):
        iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        iso.fit(scores[:, k], (y == k).astype(np.float64))
        out.append((np.asarray(iso.X_thresholds_, np.float64), np.asarray(iso.y_thresholds_, np.float64)))
    return out


def _apply_isotonic(scores: FloatArray, cal: list[tuple[FloatArray, FloatArray]]) -> FloatArray:
    p = np.column_stack([np.interp(scores[:, k], xs, ys) for k, (xs, ys) in enumerate(cal)])
    p += 1e-6  # all-zero rows (far outside the calibration range) become uniform, not NaN
    return cast(FloatArray, p / p.sum(axis=1, keepdims=True))


def precision_lower_bound(correct: npt.ArrayLike, routed: npt.ArrayLike, level: float) -> Any:
    """One-sided Clopper–Pearson lower bound of a precision: with probability ≥ ``level`` the true
    precision is at least this, given ``correct`` right among ``routed``. ``level`` 0 → the observed
    precision itself. Works elementwise on arrays."""
    from scipy.stats import beta  # type: ignore[import-untyped]

    k = np.asarray(correct, dtype=np.float64)
    n = np.asarray(routed, dtype=np.float64)
    observed = np.divide(k, n, out=np.zeros_like(k), where=n > 0)
    if level <= 0.0:
        return observed
    bound = beta.ppf(1.0 - level, np.maximum(k, 1.0), n - k + 1.0)
    return np.where(k > 0, bound, 0.0)


def choose_threshold(
    confidence: FloatArray, correct: npt.NDArray[np.bool_], target: float, level: float = 0.0
) -> float | None:
    """Lowest confidence t at which the messages with confidence ≥ t are right often enough: their
    precision's one-sided lower bound at ``level`` (Clopper–Pearson; 0 = the observed precision) is
    ≥ ``target``. It routes the largest share among the thresholds that pass. None if none does.

    Why a bound: the observed out-of-fold precision at the chosen threshold is ≥ the target by
    construction, so on new messages it scatters around the target and falls below it about half the
    time (realised 0.975 on an unseen sample at target 0.98). Requiring the lower bound to reach the
    target leaves a margin that shrinks as the calibration data grow (docs/triage.md has the figures).
    """
    order = np.argsort(-confidence, kind="stable")
    c = confidence[order]
    hits = np.cumsum(correct[order])
    bound = precision_lower_bound(hits, np.arange(1, len(c) + 1), level)
    group_end = np.r_[c[1:] != c[:-1], True]  # a threshold takes all tied messages or none
    ok = np.flatnonzero(group_end & (bound >= target))
    return float(c[ok.max()]) if len(ok) else None


# ----------------------------------------------------------------------------- metrics


def _metrics(
    y_true: Sequence[str], y_pred: Sequence[str], confidence: FloatArray, threshold: float | None
) -> dict[str, Any]:
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    labels = sorted(set(y_true) | set(y_pred))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    correct = np.asarray(y_true, dtype=object) == np.asarray(y_pred, dtype=object)
    auto = confidence >= threshold if threshold is not None else np.zeros(len(y_true), dtype=bool)
    n_auto = int(auto.sum())
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(np.mean(f)) if len(f) else 0.0,
        "threshold": threshold,
        "auto_routed": n_auto,
        "auto_route_share": n_auto / len(y_true) if len(y_true) else 0.0,
        "auto_route_precision": float(correct[auto].mean()) if n_auto else None,
        "per_label": {
            lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, lab in enumerate(labels)
        },
    }


def data_sha256(texts: Iterable[str], labels: Iterable[str]) -> str:
    """sha256 of the text and label columns: for each row, UTF-8 of text, U+001F, label, U+001E."""
    h = hashlib.sha256()
    for t, lab in zip(texts, labels, strict=True):
        h.update(f"{t}\x1f{lab}\x1e".encode())
    return h.hexdigest()


def _versions() -> dict[str, str]:
    import scipy
    import sklearn

    import civicloop

    out = {
        "python": platform.python_version(),
        "civicloop": civicloop.__version__,
        "numpy": np.__version__,
        "scipy": str(scipy.__version__),
        "scikit-learn": str(sklearn.__version__),
    }
    out["rjieba"] = importlib.metadata.version("rjieba")
    return out


# ----------------------------------------------------------------------------- the classifier


@dataclass
class TextClassifier:
    """Message text → label, with a calibrated score and an automatic-routing flag.

    ``fit`` runs the k-fold cross-validation that calibrates the scores and chooses the threshold, and
    stores its metrics in ``cv_metrics``; ``meta`` holds what :meth:`save` records about the training.
    """

    target_precision: float = 0.98
    pre_segmented: PreSegmented = "auto"
    folds: int = 5
    alpha: float = 1.0
    # Per-label feature scaling of the ridge (NBSVM-style |log-count ratio|^power; 0 = off). Training
    # only: the scales are folded into the coefficients. At 0.5: +0.004 macro-F1 and +2 points of routed
    # share on held-out messages (docs/triage.md), ≈ 2× the training time.
    scale_power: float = 0.5
    # Confidence of the precision bound that chooses the threshold (0 = observed precision, the rule
    # of models trained before the bound existed). 99 %, not 95 %: the scaled model is a little more
    # confident than the fold models its calibration comes from, and at 95 % the realised precision
    # fell below 0.98 on 2 of 5 held-out splits (docs/triage.md).
    bound_level: float = 0.99
    head_tokens: int = 12
    top_k: int = 3
    random_state: int = 0

    labels: list[str] = field(default_factory=list)
    threshold: float | None = None
    cv_metrics: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    _vocab: _Vocabulary = field(default_factory=_Vocabulary, repr=False)
    _idf: list[FloatArray] = field(default_factory=list, repr=False)
    _coef: npt.NDArray[np.float32] | None = field(default=None, repr=False)
    _intercept: FloatArray | None = field(default=None, repr=False)
    _calibration: list[tuple[FloatArray, FloatArray]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 < self.target_precision <= 1.0:
            raise DataError(f"target precision must be in (0, 1], got {self.target_precision}")
        if self.pre_segmented not in PRESEGMENTED_CHOICES:
            raise DataError(f"pre_segmented must be one of {', '.join(PRESEGMENTED_CHOICES)}")
        if not 0.0 <= self.scale_power <= 2.0:
            raise DataError(f"scale power must be in [0, 2], got {self.scale_power}")
        if self.folds < 2:
            raise DataError(f"folds must be at least 2, got {self.folds}")
        if not (self.bound_level == 0.0 or 0.5 <= self.bound_level < 1.0):
            # below 0.5 a "lower" bound lies above the observed precision
            raise DataError(
                f"bound level must be 0 or in [0.5, 1), got {self.bound_level}", option="--bound-level"
            )

    # -- features

    def _tokens(self, texts: Sequence[str]) -> list[list[str]]:
        return [tokenize(t, self.pre_segmented) for t in texts]

    @staticmethod
    def _design(counts: list[Any], idf: list[FloatArray]) -> Any:
        blocks = [_tfidf(c, i, w) for c, i, (_, w, _) in zip(counts, idf, _BLOCKS, strict=True)]
        return sp.hstack(blocks, format="csr")

    # -- training

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> TextClassifier:
        started = time.perf_counter()
        texts = [str(t) for t in texts]
        labels = [str(lab) for lab in labels]
        _check_training_data(texts, labels)
        self.labels = sorted(set(labels))
        index = {lab: i for i, lab in enumerate(self.labels)}
        y = np.array([index[lab] for lab in labels], dtype=np.int64)
        n_classes = len(self.labels)
        folds = min(self.folds, int(np.bincount(y).min()))

        vocab = _Vocabulary()
        counts = _block_counts(self._tokens(texts), vocab, self.head_tokens, grow=True)

        from sklearn.model_selection import StratifiedKFold

        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.random_state)
        splits = list(splitter.split(np.zeros(len(y)), y))
        scores = np.zeros((len(y), n_classes))
        for train, test in splits:
            idf = [_idf(c, train, max_df) for c, (_, _, max_df) in zip(counts, _BLOCKS, strict=True)]
            x = self._design(counts, idf)
            coef, intercept = _fit_ridge(x[train], y[train], n_classes, self.alpha, self.scale_power)
            scores[test] = x[test] @ coef + intercept

        # Out-of-fold probabilities: each fold calibrated by the other folds' out-of-fold scores.
        proba = np.zeros_like(scores)
        for train, test in splits:
            proba[test] = _apply_isotonic(scores[test], _fit_isotonic(scores[train], y[train]))
        predicted = proba.argmax(axis=1)
        confidence = proba.max(axis=1)
        correct = predicted == y
        self.threshold = choose_threshold(confidence, correct, self.target_precision, self.bound_level)
        names = np.asarray(self.labels, dtype=object)
        cv = _metrics(list(names[y]), list(names[predicted]), confidence, self.threshold)
        cv["folds"] = folds
        cv["target_precision"] = self.target_precision
        cv["bound_level"] = self.bound_level
        # What training expects of the routed share on new messages: the observed out-of-fold precision
        # above the threshold, and the lower bound the threshold was chosen by.
        cv["expected_precision"] = cv["auto_route_precision"]
        routed = confidence >= self.threshold if self.threshold is not None else np.zeros(len(y), dtype=bool)
        cv["precision_lower_bound"] = (
            float(precision_lower_bound(int(correct[routed].sum()), int(routed.sum()), self.bound_level))
            if routed.any()
            else None
        )
        cv["threshold_transfer"] = _threshold_transfer(
            splits, confidence, correct, self.target_precision, self.bound_level
        )
        self.cv_metrics = cv

        # The final model: every message, with the calibration fitted on all out-of-fold scores.
        self._calibration = _fit_isotonic(scores, y)
        idf_all = [_idf(c, None, max_df) for c, (_, _, max_df) in zip(counts, _BLOCKS, strict=True)]
        self._vocab, self._idf, counts = _prune(vocab, idf_all, counts)
        x = self._design(counts, self._idf)
        coef, intercept = _fit_ridge(x, y, n_classes, self.alpha, self.scale_power)
        self._coef = coef.astype(np.float32)
        self._intercept = intercept
        self.meta = {
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "data_sha256": data_sha256(texts, labels),
            "n_train": len(texts),
            "label_counts": dict(sorted(Counter(labels).items())),
            "n_features": int(x.shape[1]),
            "train_seconds": round(time.perf_counter() - started, 2),
            "versions": _versions(),
        }
        return self

    # -- prediction

    def _check_fitted(self) -> None:
        if self._coef is None or self._intercept is None:
            raise TriageError("the classifier is not trained: call fit() or load_model() first")

    def predict_proba(self, texts: Sequence[str]) -> FloatArray:
        """Calibrated probabilities, one column per label of :attr:`labels`."""
        self._check_fitted()
        assert self._coef is not None and self._intercept is not None
        out = [np.zeros((0, len(self.labels)))]
        for start in range(0, len(texts), _CHUNK):
            tokens = self._tokens([str(t) for t in texts[start : start + _CHUNK]])
            x = self._design(_block_counts(tokens, self._vocab, self.head_tokens, grow=False), self._idf)
            scores = np.asarray(x @ self._coef, dtype=np.float64) + self._intercept
            out.append(_apply_isotonic(scores, self._calibration))
        return np.vstack(out)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        proba = self.predict_proba(texts)
        k = min(self.top_k, len(self.labels))
        order = np.argsort(-proba, axis=1, kind="stable")[:, :k]
        out = []
        for row, best in zip(proba, order, strict=True):
            top = [(self.labels[j], float(row[j])) for j in best]
            score = top[0][1]
            auto = self.threshold is not None and score >= self.threshold
            out.append(Prediction(label=top[0][0], score=score, top=top, auto=auto))
        return out

    def evaluate(self, texts: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
        """Accuracy, macro-F1, per-label metrics and the auto-routed share/precision at the stored
        threshold (the threshold is not re-fitted here)."""
        if len(texts) != len(labels):
            raise DataError(f"{len(texts)} texts but {len(labels)} labels")
        if not texts:
            raise DataError("no messages to evaluate")
        labels = [str(lab) for lab in labels]
        if any(not lab.strip() for lab in labels):
            raise DataError("some labels are empty")
        proba = self.predict_proba(texts)
        predicted = [self.labels[j] for j in proba.argmax(axis=1)]
        out = _metrics(labels, predicted, proba.max(axis=1), self.threshold)
        out["target_precision"] = self.target_precision
        # Expected (what training promised for the routed share) next to realised (auto_route_precision).
        out["expected_precision"] = self.cv_metrics.get(
            "expected_precision", self.cv_metrics.get("auto_route_precision")
        )
        out["precision_lower_bound"] = self.cv_metrics.get("precision_lower_bound")
        out["bound_level"] = self.bound_level
        out["labels_unknown_to_model"] = sorted(set(labels) - set(self.labels))
        # Evaluating on the training data measures memory, not generalisation: say so.
        out["is_training_data"] = data_sha256(texts, labels) == self.meta.get("data_sha256")
        return out

    # -- persistence

    def save(self, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Write the model file (zip of JSON + .npy, see the module doc). ``extra`` goes into the
        metadata (e.g. the source file and columns)."""
        self._check_fitted()
        assert self._coef is not None and self._intercept is not None
        path = Path(path)
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "labels": self.labels,
            "threshold": self.threshold,
            "params": {
                "target_precision": self.target_precision,
                "pre_segmented": self.pre_segmented,
                "folds": self.folds,
                "alpha": self.alpha,
                "scale_power": self.scale_power,
                "bound_level": self.bound_level,
                "head_tokens": self.head_tokens,
                "top_k": self.top_k,
                "random_state": self.random_state,
                "blocks": [list(b) for b in _BLOCKS],
                "min_df": _MIN_DF,
            },
            "cv_metrics": self.cv_metrics,
            **self.meta,
            **(extra or {}),
        }
        self.meta = {k: v for k, v in meta.items() if k not in _NOT_META}
        arrays: dict[str, np.ndarray[Any, Any]] = {"coef": self._coef, "intercept": self._intercept}
        for b, idf in enumerate(self._idf):
            arrays[f"idf_{b}"] = idf
        for k, (xs, ys) in enumerate(self._calibration):
            arrays[f"calib_x_{k}"] = xs
            arrays[f"calib_y_{k}"] = ys
        vocab = [sorted(v, key=v.__getitem__) for v in self._vocab.words]
        for slot, keys in enumerate(self._vocab.chars):
            arrays[f"char_vocab_{slot}"] = keys
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
            zf.writestr("meta.json", json.dumps(meta, ensure_ascii=False, indent=1))
            zf.writestr("vocab.json", json.dumps(vocab, ensure_ascii=False, separators=(",", ":")))
            for name, arr in arrays.items():
                buf = io.BytesIO()
                np.save(buf, arr, allow_pickle=False)
                zf.writestr(f"arrays/{name}.npy", buf.getvalue())
        tmp.replace(path)
        return path


_NOT_META = frozenset({"format", "format_version", "labels", "threshold", "params", "cv_metrics"})


def _threshold_transfer(
    splits: list[tuple[IntArray, IntArray]],
    confidence: FloatArray,
    correct: npt.NDArray[np.bool_],
    target: float,
    level: float,
) -> dict[str, Any]:
    """An honest estimate of the threshold on unseen data: for each fold, the threshold chosen on the
    other folds' out-of-fold confidences, applied to this fold."""
    routed = 0
    routed_correct = 0
    for train, test in splits:
        t = choose_threshold(confidence[train], correct[train], target, level)
        if t is None:
            continue
        auto = confidence[test] >= t
        routed += int(auto.sum())
        routed_correct += int(correct[test][auto].sum())
    n = len(confidence)
    return {
        "auto_route_share": routed / n if n else 0.0,
        "auto_route_precision": routed_correct / routed if routed else None,
    }


def _prune(
    vocab: _Vocabulary, idf: list[FloatArray], counts: list[Any]
) -> tuple[_Vocabulary, list[FloatArray], list[Any]]:
    """Drop the terms the final idf excludes (df < 2 or too common) from vocabularies and matrices."""
    keep = [np.flatnonzero(i > 0.0) for i in idf]
    out = _Vocabulary()
    for slot, b in enumerate(_WORD_BLOCKS):
        terms = sorted(vocab.words[slot], key=vocab.words[slot].__getitem__)
        out.words[slot] = {terms[j]: n for n, j in enumerate(keep[b])}
    out.chars = [vocab.chars[slot][keep[b]] for slot, b in enumerate(_CHAR_BLOCKS)]
    return (
        out,
        [i[k] for i, k in zip(idf, keep, strict=True)],
        [c[:, k] for c, k in zip(counts, keep, strict=True)],
    )


def _check_training_data(texts: list[str], labels: list[str]) -> None:
    if len(texts) != len(labels):
        raise DataError(f"{len(texts)} texts but {len(labels)} labels")
    if not texts:
        raise DataError("no training messages")
    empty = [i for i, lab in enumerate(labels) if not lab.strip()]
    if empty:
        raise DataError(f"{len(empty)} messages have an empty label (first: row {empty[0] + 1} of the data)")
    counts = Counter(labels)
    if len(counts) < 2:
        raise DataError(f"need at least 2 different labels to train, found {len(counts)}: {sorted(counts)}")
    rare = sorted(lab for lab, n in counts.items() if n < 2)
    if rare:
        raise DataError(f"every label needs at least 2 messages for cross-validation; only 1 for: {rare}")


# ----------------------------------------------------------------------------- loading


def load_model(path: str | Path) -> TextClassifier:
    """Read a model written by :meth:`TextClassifier.save`. Raises :class:`ModelFormatError` for a
    file that is not such a model or has a format version this civicloop does not know."""
    path = Path(path)
    if not path.is_file():
        raise ModelFormatError(f"model file not found: {path}")
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ModelFormatError(f"{path} is not a civicloop triage model (not a zip file)") from exc
    with zf:
        try:
            meta = json.loads(zf.read("meta.json"))
        except (KeyError, ValueError) as exc:
            raise ModelFormatError(f"{path} is not a civicloop triage model (no readable meta.json)") from exc
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise ModelFormatError(f"{path} is not a civicloop triage model (format {meta.get('format')!r})")
        version = meta.get("format_version")
        if version not in SUPPORTED_FORMAT_VERSIONS:
            raise ModelFormatError(
                f"{path} has model format version {version!r}; this civicloop reads version(s) "
                f"{', '.join(map(str, sorted(SUPPORTED_FORMAT_VERSIONS)))}: retrain the model with "
                "`civicloop triage train` or use a matching civicloop release"
            )
        try:
            vocab_lists = json.loads(zf.read("vocab.json"))

            def arr(name: str) -> np.ndarray[Any, Any]:
                return cast(
                    np.ndarray[Any, Any],
                    np.load(io.BytesIO(zf.read(f"arrays/{name}.npy")), allow_pickle=False),
                )

            params = meta["params"]
            labels = [str(lab) for lab in meta["labels"]]
            clf = TextClassifier(
                target_precision=float(params["target_precision"]),
                pre_segmented=params["pre_segmented"],
                folds=int(params["folds"]),
                alpha=float(params["alpha"]),
                scale_power=float(params.get("scale_power", 0.0)),
                bound_level=float(params.get("bound_level", 0.0)),
                head_tokens=int(params["head_tokens"]),
                top_k=int(params["top_k"]),
                random_state=int(params["random_state"]),
            )
            clf.labels = labels
            clf.threshold = None if meta["threshold"] is None else float(meta["threshold"])
            clf.cv_metrics = meta.get("cv_metrics", {})
            clf.meta = {k: v for k, v in meta.items() if k not in _NOT_META}
            clf._vocab = _Vocabulary(
                words=[{t: i for i, t in enumerate(v)} for v in vocab_lists],
                chars=[arr(f"char_vocab_{slot}").astype(np.int64) for slot in range(len(_CHAR_BLOCKS))],
            )
            clf._idf = [arr(f"idf_{b}").astype(np.float64) for b in range(len(_BLOCKS))]
            clf._coef = arr("coef").astype(np.float32)
            clf._intercept = arr("intercept").astype(np.float64)
            clf._calibration = [
                (arr(f"calib_x_{k}").astype(np.float64), arr(f"calib_y_{k}").astype(np.float64))
                for k in range(len(labels))
            ]
        except (KeyError, ValueError, TypeError) as exc:
            raise ModelFormatError(f"{path} is a damaged civicloop triage model: {exc}") from exc
    sizes = clf._vocab.sizes()
    if (
        len(clf._vocab.words) != len(_WORD_BLOCKS)
        or clf._coef.shape != (sum(sizes), len(clf.labels))
        or [len(i) for i in clf._idf] != sizes
    ):
        raise ModelFormatError(f"{path} is a damaged civicloop triage model (array shapes do not match)")
    return clf


# ----------------------------------------------------------------------------- CSV


def table_reader(fh: TextIO, path: Path) -> csv.DictReader[str]:
    """Rows of a message file as dicts: tab-separated if the name ends in .tsv/.tab, else CSV; the field
    size limit raised for long messages (the labelled files and ``triage dedupe`` read them alike)."""
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    return csv.DictReader(fh, delimiter="\t" if path.suffix.lower() in {".tsv", ".tab"} else ",")


def read_labelled_csv(
    path: str | Path,
    text_col: str,
    label_col: str | None,
    *,
    data_option: str = "--data",
    text_option: str = "--text-col",
    label_option: str = "--label-col",
) -> tuple[list[str], list[str]]:
    """Texts (and labels, if ``label_col``) of a CSV file (UTF-8, optional BOM; tab-separated if the
    name ends in .tsv). Raises :class:`DataError` naming the option or column at fault."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"data file not found: {path}", option=data_option)
    texts: list[str] = []
    labels: list[str] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = table_reader(fh, path)
            columns = list(reader.fieldnames or [])
            for col, option in ((text_col, text_option), (label_col, label_option)):
                if col is not None and col not in columns:
                    raise DataError(
                        f"column {col!r} not found in {path.name} (columns: {', '.join(columns) or 'none'})",
                        option=option,
                    )
            for row in reader:
                texts.append(row[text_col] or "")
                if label_col is not None:
                    labels.append((row[label_col] or "").strip())
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text: {exc}", option=data_option) from exc
    except csv.Error as exc:
        raise DataError(f"{path} is not a readable CSV file: {exc}", option=data_option) from exc
    if not texts:
        raise DataError(f"{path} has no data rows", option=data_option)
    return texts, labels


def train_from_csv(
    data: str | Path,
    text_col: str,
    label_col: str,
    model_path: str | Path,
    *,
    target_precision: float = 0.98,
    pre_segmented: PreSegmented = "auto",
    folds: int = 5,
    random_state: int = 0,
    bound_level: float = 0.99,
) -> TextClassifier:
    """Read a labelled CSV, train (with cross-validation) and save the model; returns it."""
    texts, labels = read_labelled_csv(data, text_col, label_col)
    clf = TextClassifier(
        target_precision=target_precision,
        pre_segmented=pre_segmented,
        folds=folds,
        random_state=random_state,
        bound_level=bound_level,
    )
    clf.fit(texts, labels)
    clf.save(
        model_path, extra={"source": {"file": Path(data).name, "text_col": text_col, "label_col": label_col}}
    )
    return clf


def format_float(value: float | None, digits: int = 4) -> str:
    """For tables: a float, or '—' for None/NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"
