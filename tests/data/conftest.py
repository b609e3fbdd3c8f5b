"""Fixtures for the data tests: the tiny POP909-like corpus and a split over it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.pop909_fixture import FixtureSong, write_fixture_corpus


@pytest.fixture(scope="session")
def fixture_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, FixtureSong]]:
    root = tmp_path_factory.mktemp("pop909")
    return root, write_fixture_corpus(root)


@pytest.fixture(scope="session")
def fixture_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("split") / "split.json"
    path.write_text(
        json.dumps(
            {
                "train": ["001", "003", "005"],
                "valid": ["002", "404"],
                "test": ["004"],
            }
        )
    )
    return path
