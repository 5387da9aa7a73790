"""Without ``../shared/ari`` the ARI tests say what is missing: skipped here, failed under CI."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import ari_traces
from tests.fakes.ari_docs import ApiDocs

WHAT_IT_IS = (
    "the Asterisk api-docs and traces in ../shared/ari, beside the repository; see CONTRIBUTING.md"
)


@pytest.fixture
def missing(tmp_path: Path) -> Path:
    return tmp_path / "shared" / "ari" / "api-docs"


class TestOutsideCi:
    @pytest.fixture(autouse=True)
    def not_in_ci(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("CI", raising=False)

    def test_missing_api_docs_skip_naming_the_folder_and_what_it_is(self, missing: Path) -> None:
        with pytest.raises(pytest.skip.Exception) as skipped:
            ApiDocs(missing)
        assert str(skipped.value) == f"{missing} is missing: the ARI tests read {WHAT_IT_IS}"

    def test_missing_traces_skip_the_same_way(
        self, missing: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        traces = missing.with_name("traces")
        monkeypatch.setattr(ari_traces, "TRACES", traces)
        with pytest.raises(pytest.skip.Exception) as skipped:
            ari_traces.load("01-inbound-answer-play-hangup.jsonl")
        assert str(skipped.value) == f"{traces} is missing: the ARI tests read {WHAT_IT_IS}"

    def test_a_module_reading_them_at_import_is_skipped_whole(
        self, missing: Path, pytester: pytest.Pytester
    ) -> None:
        """As ``tests/providers/ari/test_resources.py`` does: no collection error, one skip."""
        pytester.makepyfile(
            f"""
            from pathlib import Path
            from tests.fakes.ari_docs import ApiDocs

            DOCS = ApiDocs(Path({str(missing)!r}))

            def test_reads_them():
                assert DOCS.operations
            """
        )
        result = pytester.runpytest_inprocess("-rs")
        result.assert_outcomes(skipped=1)
        result.stdout.fnmatch_lines([f"*{missing} is missing: the ARI tests read*"])


class TestUnderCi:
    def test_missing_api_docs_fail(self, missing: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """CI must prove the fake against Asterisk's own data, never pass without it."""
        monkeypatch.setenv("CI", "true")
        with pytest.raises(pytest.fail.Exception) as failed:
            ApiDocs(missing)
        assert str(failed.value) == (
            f"{missing} is missing: the ARI tests read {WHAT_IT_IS}"
            " (CI=true: the ARI tests must run)"
        )


def test_present_data_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check stays out of the way of a checkout that has ``../shared/ari``."""
    monkeypatch.setenv("CI", "true")
    assert "channels.originate" in {op.name for op in ApiDocs().operations}
