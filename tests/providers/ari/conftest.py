"""A fake Asterisk per test; at the end, no request may have broken Asterisk's api-docs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.ari_server import FakeAsterisk


@pytest.fixture
def fake_ari(tmp_path: Path) -> Iterator[FakeAsterisk]:
    """Not yet listening: a test starts it inside its own event loop (``rig(fake_ari)``).

    Its clock runs 100 times fast: a prompt of 1.4 s lasts 14 ms, and an originate's
    default 30 s ring timeout 0.3 s. Its sounds directory (not made yet) is the test's
    own.
    """
    fake = FakeAsterisk(time_scale=0.01, sounds_dir=tmp_path / "asterisk-sounds")
    yield fake
    bad = [f"{r.method} {r.path} {r.query}: {r.problems}" for r in fake.violations()]
    assert not bad, "requests a real Asterisk 22 would refuse or misread:\n" + "\n".join(bad)
