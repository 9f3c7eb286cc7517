"""Text duplicates without I/O: normalisation, signatures, the score (the radius is the real radius) and
the batch rule behind ``civicloop triage dedupe``."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from civicloop.intake.dedupe import (
    PLACE_SIMILARITY,
    TEXT_ONLY_SIMILARITY,
    THRESHOLD,
    BatchRow,
    BatchSettings,
    cluster_rows,
    gram_jaccard,
    grams,
    jaccard,
    normalise,
    score_duplicate,
    shingle_hashes,
    shingled,
    signature,
    signatures,
    similarity,
)

LAMP = "您好，幸福小区东门路灯不亮已经三天了，晚上出行很不安全。谢谢！"
OTHER = "建设路公交站旁垃圾堆放无人清理，气味难闻，请尽快处理。"


def test_normalisation_folds_width_case_spacing_punctuation_digits_and_boilerplate() -> None:
    assert normalise("ＡＢｃ　１２３，ＸＹ！") == "abc123xy"
    assert normalise("第①排 路灯") == normalise("第1排路灯")
    assert normalise("已经三天了") == normalise("已经3天了")
    assert normalise(LAMP) == normalise("幸福小区东门 路灯不亮 已经3天了 晚上出行很不安全")
    assert normalise("市民来电反映：井盖缺失。") == normalise("井盖缺失")
    assert normalise("您 好，井盖缺失") == normalise("井盖缺失")  # a greeting split by a space
    assert normalise("  ，。！ ") == "" and normalise(None) == ""


def test_exact_and_reformatted_texts_share_the_exact_key_and_different_texts_share_none() -> None:
    a, b, c = (
        signature(LAMP),
        signature(" 幸福小区东门路灯不亮,已经3天了,晚上出行很不安全 "),
        signature(OTHER),
    )
    assert a.keys[0] == b.keys[0] and a.similarity(b) == 1.0
    assert not set(a.keys) & set(c.keys) and a.similarity(c) < 0.1
    assert signature("").keys == ()


def test_a_near_duplicate_shares_a_band_key_and_is_verified_by_its_jaccard() -> None:
    edited = LAMP.replace("谢谢！", "") + "希望尽快修好"
    a, b = signature(LAMP), signature(edited)
    assert a.keys[0] != b.keys[0]  # not the same text …
    assert set(a.keys[1:]) & set(b.keys[1:])  # … but LSH makes it a candidate
    assert TEXT_ONLY_SIMILARITY <= a.similarity(b) < 1.0


def test_batch_signatures_equal_one_by_one_signatures() -> None:
    texts = [LAMP, OTHER, "", "a", "ab", "井盖", LAMP * 40, None]
    assert [s.keys for s in signatures(texts)] == [signature(t).keys for t in texts]


_CHARS = st.sampled_from(list("路灯不亮垃圾井盖小区门口东西南北abcXYZ0123456789，。！ "))
_TEXTS = st.text(_CHARS, min_size=1, max_size=60).filter(lambda t: len(normalise(t)) >= 1)


@settings(max_examples=60, deadline=None)
@given(_TEXTS, st.lists(st.tuples(st.integers(0, 60), st.sampled_from([" ", "\n", "\t", "\u3000", "  "]))))
def test_a_text_is_always_a_duplicate_of_its_whitespace_variant(
    text: str, inserts: list[tuple[int, str]]
) -> None:
    variant = text
    for pos, ws in inserts:
        variant = variant[: pos % (len(variant) + 1)] + ws + variant[pos % (len(variant) + 1) :]
    a, b = signature(text), signature(variant)
    assert a.keys == b.keys
    score = score_duplicate(case_id="x", distance_m=None, radius_m=50, same_category=None,
                            text_similarity=a.similarity(b))  # fmt: skip
    assert score.score >= THRESHOLD


@settings(max_examples=60, deadline=None)
@given(_TEXTS, _TEXTS)
def test_similarity_is_symmetric_and_bounded(a: str, b: str) -> None:
    s = similarity(a, b)
    assert s == similarity(b, a) and 0.0 <= s <= 1.0
    assert similarity(a, a) == 1.0


@settings(max_examples=60, deadline=None)
@given(_TEXTS, _TEXTS)
def test_the_shingle_sets_give_the_jaccard_of_the_hashed_shingles(a: str, b: str) -> None:
    na, nb = normalise(a), normalise(b + a[: len(a) // 2])  # overlapping texts too
    by_hash = jaccard(shingle_hashes(na), shingle_hashes(nb))
    assert gram_jaccard(grams(na), grams(nb)) == by_hash
    assert signature(a).similarity(shingled(b + a[: len(a) // 2])) == (1.0 if na == nb and na else by_hash)


_POOL = [
    LAMP,
    OTHER,
    "北门井盖缺失，有人差点掉进去",
    "学校门口占道经营，早上堵得走不动",
    "夜间施工噪音扰民到凌晨两点",
]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, len(_POOL) - 1), st.booleans()), min_size=1, max_size=12), st.randoms()
)
def test_clusters_do_not_depend_on_the_order_of_the_rows(
    picks: list[tuple[int, bool]], rnd: random.Random
) -> None:
    texts = [(" ".join(_POOL[i]) if spaced else _POOL[i]) for i, spaced in picks]
    order = list(range(len(texts)))
    rnd.shuffle(order)

    def partition(idx: list[int]) -> set[frozenset[int]]:
        found = cluster_rows([BatchRow(texts[i]) for i in idx])
        return {frozenset(idx[r] for r in c) for c in found}

    expected = {frozenset(k for k, (j, _) in enumerate(picks) if j == i) for i, _ in picks}
    assert partition(order) == partition(list(range(len(texts)))) == {c for c in expected if len(c) > 1}


@pytest.mark.parametrize("radius", [50.0, 120.0])
def test_the_configured_radius_is_the_real_radius(radius: float) -> None:
    def score(distance: float) -> float:
        return score_duplicate(case_id="m", distance_m=distance, radius_m=radius, same_category=True,
                               text_similarity=0.0).score  # fmt: skip

    assert score(0.0) >= THRESHOLD
    assert score(0.9 * radius) >= THRESHOLD  # the old quadratic fall-off refused this at 0.45 × radius
    assert score(0.999 * radius) >= THRESHOLD
    assert score(1.1 * radius) < THRESHOLD
    assert score(0.1 * radius) > score(0.9 * radius)  # nearer still ranks first


def test_the_score_weighs_category_text_area_and_reporter() -> None:
    def s(**kw: object) -> float:
        base: dict[str, object] = {"case_id": "m", "distance_m": None, "radius_m": 50.0,
                                   "same_category": None, "text_similarity": 0.0}  # fmt: skip
        return score_duplicate(**{**base, **kw}).score  # type: ignore[arg-type]

    # within the radius, category unknown (review queue): the text decides at PLACE_SIMILARITY
    assert s(distance_m=30.0, text_similarity=PLACE_SIMILARITY) >= THRESHOLD
    assert s(distance_m=30.0, text_similarity=PLACE_SIMILARITY - 0.05) < THRESHOLD
    # different known categories never, whatever the text; the same component always
    assert s(distance_m=5.0, same_category=False, text_similarity=1.0) < THRESHOLD
    assert s(distance_m=500.0, same_component=True) == 1.0
    # text only: TEXT_ONLY_SIMILARITY, lowered by the same grid/community or the same reporter
    assert s(text_similarity=TEXT_ONLY_SIMILARITY) >= THRESHOLD
    assert s(text_similarity=0.6) < THRESHOLD
    assert s(text_similarity=0.6, same_area=True) >= THRESHOLD
    assert s(text_similarity=0.6, same_reporter=True) >= THRESHOLD
    # the same text far away is another place's problem
    assert s(distance_m=400.0, same_category=True, text_similarity=1.0) < THRESHOLD


def test_batch_rule_window_place_and_category() -> None:
    t0 = datetime(2026, 3, 2, 9, 0)
    rows = [
        BatchRow(LAMP, t0),
        BatchRow(" ".join(LAMP), t0 + timedelta(days=2)),  # whitespace variant within the window
        BatchRow(LAMP, t0 + timedelta(days=9)),  # the same text 9 days on: a new report
        BatchRow(OTHER, t0, 112.56, 37.86, "06010"),
        BatchRow("这里还有一堆垃圾", t0, 112.56045, 37.86, "06010"),  # ≈40 m, same category, other words
        BatchRow(OTHER, t0, 112.58, 37.86, "06010"),  # the same text ≈1.8 km away
        BatchRow("这里还有一堆垃圾", t0, 112.56, 37.86, "09006"),  # same place, other category
    ]
    assert cluster_rows(rows) == [[0, 1], [3, 4]]
    assert cluster_rows(rows, BatchSettings(window=timedelta(days=30))) == [[0, 1, 2], [3, 4]]
    assert cluster_rows(rows, BatchSettings(radius_m=30.0)) == [[0, 1]]
