"""A batch's stage files: what one stage hands the next, kept in the batch's work folder.

Stage files hold clear values, so the folder (0700) and its files (0600) are
readable by the platform's user only, whatever the umask; the folder is
removed once the batch is loaded or quarantined, and the retention sweeper
removes what a failed batch left behind (:mod:`jinshu.govern.retention`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
from pyarrow import feather

from jinshu.settings import Settings


def save(frame: pd.DataFrame, path: Path) -> None:
    """Stage files are uncompressed Arrow IPC, read back at memory speed.

    Column names go in the metadata: a sender's headers may repeat.
    """
    names = [str(c) for c in frame.columns]
    positional = frame.reset_index(drop=True).set_axis([f"c{i}" for i in range(len(names))], axis=1)
    table = pa.Table.from_pandas(positional, preserve_index=False)
    table = table.replace_schema_metadata({"names": json.dumps(names, ensure_ascii=False)})
    with _private(path) as out:
        feather.write_feather(table, out, compression="uncompressed")


def write_json(path: Path, value: object) -> None:
    """A small stage fact (counts, encoding, results) as JSON, private like the frames."""
    with _private(path) as out:
        out.write(json.dumps(value, ensure_ascii=False, default=str).encode())


def _private(path: Path) -> BinaryIO:
    """``path`` opened for writing from scratch, readable by the platform's user only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # also when the file was there before (a retried stage)
    return os.fdopen(fd, "wb")


def load(path: Path, columns: list[str] | None = None) -> pd.DataFrame:
    table = feather.read_table(path)
    frame = table.to_pandas()
    frame.columns = json.loads(table.schema.metadata[b"names"])
    return frame[columns] if columns else frame


def folder(settings: Settings, batch_id: str) -> Path:
    """The batch's stage folder, private to the platform's user (made now if need be)."""
    path = settings.work_dir / batch_id
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    for made in (settings.work_dir, path):  # one made earlier, or by someone else, too
        made.chmod(0o700)
    return path
