"""Fixtures of the audit tests: a user's own TorchScript victim and a folder of their mp4 videos."""

from __future__ import annotations

from pathlib import Path

import pytest
from audit_support import write_user_victim, write_videos


@pytest.fixture(scope="session")
def user_victim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_user_victim(tmp_path_factory.mktemp("user_victim"))


@pytest.fixture(scope="session")
def user_videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_videos(tmp_path_factory.mktemp("videos") / "test")
