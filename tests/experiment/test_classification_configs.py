"""The shipped classification configs agree with the dataset and classifier tables.

Checked here against the library tables directly; ``tests/experiment/test_classification.py``
loads them through the runner's config validation.
"""

import tomllib
from pathlib import Path

import pytest

from approx.methods import classifiers as classify
from approx.problems import datasets

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@pytest.mark.parametrize("config", ["features.toml", "linear_regions.toml"])
def test_entries_resolve(config):
    with open(EXPERIMENTS / config, "rb") as f:
        doc = tomllib.load(f)
    assert doc["task"] == "classification"
    assert doc["datasets"] and doc["methods"] and doc["widths"]
    names = [d["name"] for d in doc["datasets"]]
    assert len(set(names)) == len(names)
    for entry in doc["datasets"]:
        params = {k: v for k, v in entry.items() if k not in ("name", "kind")}
        datasets.get(entry.get("kind", entry["name"])).resolve(params)
    for entry in doc["methods"]:
        params = {k: v for k, v in entry.items() if k not in ("name", "kind")}
        classify.get(entry["kind"]).resolve(params)
