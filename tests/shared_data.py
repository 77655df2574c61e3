"""Where the shared evaluation data lives.

The project expects `shared/` beside the checkout (``../shared``), as on developer machines and in CI;
``STRATA_SHARED_DIR`` points elsewhere.
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("STRATA_SHARED_DIR", ROOT.parent / "shared"))
POSTERS = SHARED / "data" / "posters"
DESIGNS = SHARED / "data" / "designs"
