"""A prepared copy of the tiny POP909-like corpus, for training tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from symbolic_v2m.data import Pop909, PrepareConfig, load_split, prepare_corpus
from tests.pop909_fixture import write_fixture_corpus


@pytest.fixture(scope="session")
def prepared_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pop909-model")
    write_fixture_corpus(root)
    split = root / "split.json"
    split.write_text(json.dumps({"train": ["001", "002"], "valid": ["002"], "test": []}))
    out = tmp_path_factory.mktemp("prepared-model")
    prepare_corpus(Pop909(root), load_split(split), out, PrepareConfig(workers=1))
    return out
