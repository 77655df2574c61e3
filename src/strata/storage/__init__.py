"""Where tasks, uploads and outputs are kept; :class:`~strata.storage.base.Storage` is the interface."""

from strata.storage.base import FileKind, Storage
from strata.storage.sqlite import SQLiteStorage

__all__ = ["FileKind", "SQLiteStorage", "Storage"]
