"""Triage (梳理/研判): a trainable text classifier that routes messages to a category or department
with a calibrated confidence, and routes automatically only above a threshold chosen by
cross-validation. ``civicloop triage train|eval`` (:mod:`civicloop.cli.triage`) drives it."""

from civicloop.triage.classifier import (
    FORMAT_VERSION,
    DataError,
    ModelFormatError,
    Prediction,
    TextClassifier,
    TriageError,
    data_sha256,
    load_model,
    read_labelled_csv,
    train_from_csv,
)
from civicloop.triage.text import is_presegmented, normalize, tokenize

__all__ = [
    "FORMAT_VERSION",
    "DataError",
    "ModelFormatError",
    "Prediction",
    "TextClassifier",
    "TriageError",
    "data_sha256",
    "is_presegmented",
    "load_model",
    "normalize",
    "read_labelled_csv",
    "tokenize",
    "train_from_csv",
]
