"""The request log: one SQLite row per API request, for the provider to read later.

The server writes every request it answers (successful or not) with its key, sizes, cost,
latency, prompt and completion; :func:`read_log` gives it back as a pandas DataFrame.
Taught in lesson 07; Part III's detectors read it.
"""
from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    request_id TEXT,
    key_name TEXT,
    key_hash TEXT,
    endpoint TEXT,
    model TEXT,
    status INTEGER,
    error_code TEXT,
    n INTEGER,
    max_tokens INTEGER,
    temperature REAL,
    top_logprobs INTEGER,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    cost_usd REAL,
    latency_ms REAL,
    prompt TEXT,
    completion TEXT
)"""

LOG_COLUMNS = ("ts", "request_id", "key_name", "key_hash", "endpoint", "model", "status",
               "error_code", "n", "max_tokens", "temperature", "top_logprobs", "prompt_tokens",
               "completion_tokens", "cost_usd", "latency_ms", "prompt", "completion")


class RequestLog:
    """One SQLite file; every write in its own transaction under a lock (WAL journal)."""

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)

    def _connect(self):
        return contextlib.closing(sqlite3.connect(self.path, timeout=30, isolation_level=None))

    def write(self, row: dict) -> None:
        values = [row.get(c) for c in LOG_COLUMNS]
        sql = f"INSERT INTO requests ({', '.join(LOG_COLUMNS)}) VALUES " \
              f"({', '.join('?' * len(LOG_COLUMNS))})"
        with self._lock, self._connect() as db:
            # WAL with synchronous=NORMAL: a commit is atomic and never corrupts the file, but
            # skips the disk flush (a power cut may lose the last rows; 20 ms a row saved)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("BEGIN IMMEDIATE")
            db.execute(sql, values)
            db.execute("COMMIT")


def read_log(path, key_name: str | None = None):
    """The request log as a pandas DataFrame (one row per request, oldest first).

    Taught in lesson 07.
    """
    import pandas as pd
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No request log at {path}: has the server been started?")
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
        query, args = "SELECT * FROM requests", ()
        if key_name is not None:
            query, args = query + " WHERE key_name = ?", (key_name,)
        return pd.read_sql_query(query + " ORDER BY id", db, params=args)
