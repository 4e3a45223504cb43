"""The shipped classification configs agree with the dataset and classifier tables.

The runner does not run them yet (the classification task is wired in separately); this
checks every ``[[datasets]]`` and ``[[methods]]`` entry resolves against the library.
"""

import tomllib
from pathlib import Path

import pytest

from approx import classify, datasets

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"


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
