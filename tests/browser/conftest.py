"""Browser-test plumbing: every test here is marked ``browser`` and skipped without Debian's chromium;
each phase's report is kept on the test item, so the ``page`` fixture can take a screenshot of the page
as it was when a test failed (``out/screenshots/FAILED-<test>.png``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    missing = pytest.mark.skip(reason="Debian's chromium is not installed (scripts/setup-system.sh)")
    for item in items:
        if here in item.path.parents:
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(missing)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    item.stash.setdefault(PHASE_REPORTS, {})[report.when] = report
    return report


def failed(item: pytest.Item) -> bool:
    """Whether the test body (or its setup) of ``item`` has failed so far."""
    reports = item.stash.get(PHASE_REPORTS, {})
    return any(report.failed for report in reports.values())


@pytest.fixture()
def test_failed(request: pytest.FixtureRequest) -> Callable[[], bool]:
    """A check, for fixtures' teardown, of whether the requesting test has failed."""
    return lambda: failed(request.node)
