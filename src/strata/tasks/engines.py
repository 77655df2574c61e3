"""One engine instance per engine name, constructed on first use and loaded at most once.

``load()`` can take minutes (the qwen weights), so it runs in a worker thread, guarded by a lock per
engine; engines that need the GPU also run one decomposition at a time (their ``run_lock``).
"""

from __future__ import annotations

import threading
from typing import Any

from strata.engines import Engine, get_engine
from strata.errors import ModelUnavailable


class EnginePool:
    """Constructs engines with a fixed config per name and remembers which ones are loaded."""

    def __init__(self, configs: dict[str, dict[str, Any]]) -> None:
        self._configs = configs
        self._engines: dict[str, Engine] = {}
        self._loaded: set[str] = set()
        self._locks: dict[str, threading.Lock] = {name: threading.Lock() for name in configs}
        self.run_locks: dict[str, threading.Lock] = {name: threading.Lock() for name in configs}
        self._guard = threading.Lock()

    def get(self, name: str) -> Engine:
        """The engine called ``name`` (constructed, maybe not loaded); ModelUnavailable if it cannot run."""
        with self._guard:
            engine = self._engines.get(name)
            if engine is None:
                engine = self._engines[name] = get_engine(name, **self._configs.get(name, {}))
        usable, reason = engine.availability()
        if not usable:
            raise ModelUnavailable(reason)
        return engine

    def load(self, name: str) -> Engine:
        """Blocking: construct and load ``name`` once. Call from a worker thread, never the event loop."""
        engine = self.get(name)
        with self._locks[name]:
            if name not in self._loaded:
                engine.load()
                self._loaded.add(name)
        return engine

    def loaded(self, name: str) -> bool:
        return name in self._loaded
