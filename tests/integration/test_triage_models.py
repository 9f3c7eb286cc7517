"""The demo city's category model: bootstrapped from its profile, retrained from corrections, used by
intake, and loaded in a fresh process."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from civicloop.bootstrap import init_city
from civicloop.city.service import City
from civicloop.intake.service import IntakeReport, IntakeService
from civicloop.kernel.vocabulary import Action
from civicloop.store.database import make_engine
from civicloop.triage.service import load_category_model, train_category_model
from tests.support.domain import as_role, at

MONDAY = at("2026-03-02 09:15")


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[City, Path]:
    tmp = tmp_path_factory.mktemp("model")
    city = init_city("taiyuan", engine=make_engine(f"sqlite:///{tmp / 'c.db'}"), city_id="modelcity")
    report = train_category_model(city, path=tmp / "category.model")
    assert report.labels == len(city.profile.categories) and report.corrections == 0
    return city, report.path


def test_the_bootstrap_model_suggests_categories_from_plain_reports(trained: tuple[City, Path]) -> None:
    city, path = trained
    model = load_category_model(city, path)
    assert model is not None
    texts = ["坞城路口有一堆垃圾没人清理", "路灯不亮了好几天", "店铺招牌快掉下来了"]
    assert [p.label for p in model.predict(texts)] == ["06010", "01037", "07006"]


def test_intake_uses_the_model_and_records_its_score(trained: tuple[City, Path]) -> None:
    city, path = trained
    intake = IntakeService(city, classifier=load_category_model(city, path), locate=lambda _c, f: f)
    fields = {"channel": "citizen", "lon": 112.56, "lat": 37.84, "description": "路灯不亮了好几天，晚上很黑"}
    [out] = intake.submit([IntakeReport(as_role("citizen", "c-9"), fields, MONDAY)])
    assert out.suggestion["category_code"] == "01037"
    assert out.suggestion["category_source"] == "classifier"
    assert 0 < out.suggestion["category_score"] <= 1


def test_retraining_learns_from_a_correction(trained: tuple[City, Path], tmp_path: Path) -> None:
    city, path = trained
    intake = IntakeService(city, classifier=load_category_model(city, path), locate=lambda _c, f: f)
    odd = "楼下有只死猫好几天了"  # a dead animal in the street: this city files it as 道路不洁 (06012)
    fields = {"channel": "citizen", "lon": 112.57, "lat": 37.85, "description": odd}
    [out] = intake.submit([IntakeReport(as_role("citizen", "c-10"), fields, MONDAY)])
    assert out.suggestion["category_code"] != "06012"  # the premise: the profile alone does not know it
    case_id = out.case_id or ""
    if out.outcome == "queued":
        city.cases.act(case_id, Action.ACCEPT, as_role("operator"), at=MONDAY + timedelta(minutes=1))
    city.cases.act(case_id, Action.VERIFY, as_role("inspector"), {"confirmed": True},
                   at=MONDAY + timedelta(minutes=2))  # fmt: skip
    # the shift leader files it under the city's own category: a correction of the suggestion
    city.cases.act(case_id, Action.FILE, as_role("shift_leader"), {"category_code": "06012"},
                   at=MONDAY + timedelta(minutes=3))  # fmt: skip
    again = train_category_model(city, path=tmp_path / "retrained.model")
    assert again.corrections == 1
    model = load_category_model(city, again.path)
    assert model is not None and model.predict([odd])[0].label == "06012"


def test_the_model_file_loads_in_a_fresh_process(trained: tuple[City, Path]) -> None:
    _, path = trained
    code = (
        "import sys; from civicloop.triage.classifier import load_model; "
        "m = load_model(sys.argv[1]); print(m.predict(['路灯不亮了好几天'])[0].label)"
    )
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "01037"
