"""A batch's stage files: what one stage hands the next, kept in the batch's work folder.

Stage files hold clear values, so the folder is readable by the platform's
user only, and it is removed once the batch is loaded or quarantined.
"""

from __future__ import annotations

import json
from pathlib import Path

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
    feather.write_feather(table, path, compression="uncompressed")


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
