"""The services object: what every service function works with, built once by whoever starts
the work (the page's settings, annotator.ui.settings; the CLI's commands) and passed down.

It holds the store (db.Store: the database's URL and session factories) and what follows from
it: the folder where model version files and fine-tune work folders live, `models/` next to a
SQLite database file (`annotations.sqlite3` → `models/`), else in the per-user data folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import platformdirs

import db

MODELS_FOLDER = "models"


@dataclass(frozen=True, eq=False)
class Services:
    store: db.Store

    @classmethod
    def open(cls, database_url: str) -> Services:
        """The services of the database at `database_url` (db.database_url picks it)."""
        return cls(db.Store(database_url))

    @property
    def models_folder(self) -> Path:
        """Where fine-tuned checkpoints are written for this database."""
        sqlite_file = db.database_file(self.store.url)
        if sqlite_file is not None:
            return sqlite_file.parent / MODELS_FOLDER
        return Path(platformdirs.user_data_dir("au-annotator")) / MODELS_FOLDER
