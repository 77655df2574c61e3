"""Where the shared evaluation data lives, and the project's benchmark scripts that make data.

The project expects `shared/` beside the checkout (``../shared``), as on developer machines and in CI;
``STRATA_SHARED_DIR`` points elsewhere.
"""

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("STRATA_SHARED_DIR", ROOT.parent / "shared"))
POSTERS = SHARED / "data" / "posters"
DESIGNS = SHARED / "data" / "designs"
BENCHMARKS = ROOT / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """Import a benchmarks/ module (benchmarks/ is not a package; its scripts import each other)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    return importlib.import_module(name)
