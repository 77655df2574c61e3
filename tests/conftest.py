"""Stop at once, with the reason, when the shared evaluation data is not where the tests look for it."""

import pytest

from shared_data import POSTERS, SHARED


def pytest_sessionstart(session: pytest.Session) -> None:
    if not any(POSTERS.glob("*.png")):
        pytest.exit(
            f"the shared data is not at {SHARED}: put the project's shared/ folder beside the checkout "
            "or set STRATA_SHARED_DIR",
            returncode=4,
        )
