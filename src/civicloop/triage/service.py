"""The city's category classifier: bootstrapped from its own profile, retrained from people's corrections.

A new city has no labelled history. Its first model learns from what the profile already knows — each
category's name, keywords and the short report texts of the simulator — set in varied street contexts;
from then on every correction an operator makes (a changed category at accept/file, a changed
department at dispatch) is a training example, and ``retrain`` folds them in. The model decides
automatic filing only above the threshold chosen by cross-validation at training time.
"""

from __future__ import annotations

import os
import random
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from civicloop.city.service import City
from civicloop.triage.store import example_texts


@cache
def _phrases() -> dict[str, Any]:
    """Street contexts and road names for the training phrases (data in phrases.toml)."""
    return tomllib.loads((resources.files("civicloop.triage") / "phrases.toml").read_text(encoding="utf-8"))


#: Street contexts that turn a category's phrase into something a person would type.
_CONTEXTS: tuple[str, ...] = tuple(_phrases()["contexts"])
_ROADS: tuple[str, ...] = tuple(_phrases()["roads"])


def model_dir() -> Path:
    return Path(os.environ.get("CIVICLOOP_MODEL_DIR", "var/models"))


def model_path(city: City) -> Path:
    return model_dir() / f"{city.id}-category.model"


@dataclass(frozen=True, slots=True)
class TrainingReport:
    path: Path
    examples: int
    corrections: int
    labels: int
    cv: dict[str, Any]


def bootstrap_examples(city: City, *, per_text: int = 3, seed: int = 0) -> tuple[list[str], list[str]]:
    """Texts and labels the profile implies: sample texts and keywords in street contexts."""
    rng = random.Random(seed)
    texts: list[str] = []
    labels: list[str] = []
    for c in city.profile.categories:
        phrases = list(c.sim.texts if c.sim else ()) + list(c.sim.texts_en if c.sim else ())
        phrases += [k for k in c.keywords if len(k) >= 2] + [c.name]
        for phrase in phrases:
            for _ in range(per_text):
                road, road2 = rng.sample(_ROADS, 2)
                template = rng.choice(_CONTEXTS)
                texts.append(template.format(road=road, road2=road2, n=rng.randint(1, 300), t=phrase))
                labels.append(c.code)
            texts.append(phrase)
            labels.append(c.code)
    return texts, labels


def train_category_model(city: City, *, path: Path | None = None, seed: int = 0) -> TrainingReport:
    """Train (or retrain) the category model from the profile plus every correction so far."""
    from civicloop.triage.classifier import TextClassifier

    texts, labels = bootstrap_examples(city, seed=seed)
    corrections = [e for e in correction_examples(city, "category") if e.label in _codes(city)]
    # A person's correction is real evidence about this city's language: count it more than a template.
    for e in corrections:
        texts += [e.text] * 3
        labels += [e.label] * 3
    model = TextClassifier(random_state=seed)
    model.fit(texts, labels)
    target = path or model_path(city)
    target.parent.mkdir(parents=True, exist_ok=True)
    model.save(target, extra={"city": city.id, "kind": "category", "corrections": len(corrections)})
    return TrainingReport(target, len(texts), len(corrections), len(model.labels), dict(model.cv_metrics))


def load_category_model(city: City, path: Path | None = None) -> Any | None:
    """The trained model if there is one (else None: intake falls back to keyword suggestions)."""
    target = path or model_path(city)
    if not target.is_file():
        return None
    from civicloop.triage.classifier import load_model

    return load_model(target)


def _codes(city: City) -> set[str]:
    return {c.code for c in city.profile.categories}


@dataclass
class TrainingExample:
    text: str
    label: str
    kind: str
    source: str = "correction"
    extra: dict[str, Any] = field(default_factory=dict)


def correction_examples(city: City, kind: str = "category") -> list[TrainingExample]:
    with city.store.read() as conn:
        rows = example_texts(conn, city.id, kind)
    return [TrainingExample(text, label, kind) for text, label in rows]
