import pytest


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run the test inside an empty folder (searches write NASResults/ to the working directory)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
