"""A batch's stage files: what one stage hands the next.

Stage files live under ``<batch_id>/`` in the stage store: a private local
folder by default (``$JINSHU_HOME/work``), or a bucket (``JINSHU_STAGE_URL=
s3://...``) when workers run on several hosts, so that the next task of a
batch may run anywhere. They hold clear values: the local folder (0700) and
its files (0600) are readable by the platform's user only, whatever the
umask; a bucket must be private to the platform (its policy, not this code,
says so). A batch's files are removed once it is loaded or quarantined, and
the retention sweeper removes what a failed batch left behind
(:mod:`jinshu.govern.retention`).
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime

import pandas as pd
import pyarrow as pa

from jinshu.settings import Settings
from jinshu.store.objects import LocalStore, ObjectStore, open_store


def stage_store(settings: Settings) -> ObjectStore:
    """Where every batch's stage files live (private when local)."""
    store = open_store(settings.stage_url, settings.s3_endpoint_url, private=True)
    if isinstance(store, LocalStore):
        store.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        store.root.chmod(0o700)  # one made earlier, or by someone else, too
    return store


def to_arrow(frame: pd.DataFrame) -> pa.Buffer:
    """Stage files are uncompressed Arrow IPC, read back at memory speed.

    Column names go in the metadata: a sender's headers may repeat.
    """
    names = [str(c) for c in frame.columns]
    positional = frame.reset_index(drop=True).set_axis([f"c{i}" for i in range(len(names))], axis=1)
    return table_to_arrow(pa.Table.from_pandas(positional, preserve_index=False), names)


def table_to_arrow(table: pa.Table, names: list[str]) -> pa.Buffer:
    """An Arrow table as a stage file, its columns named ``names`` when read back."""
    table = table.rename_columns([f"c{i}" for i in range(len(names))])
    table = table.replace_schema_metadata({"names": json.dumps(names, ensure_ascii=False)})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def from_arrow(data: bytes | pa.Buffer, columns: list[str] | None = None) -> pd.DataFrame:
    """A stage file as a frame (only ``columns``, when given: the others are not converted)."""
    table = pa.ipc.open_file(pa.BufferReader(data)).read_all()
    names = json.loads(table.schema.metadata[b"names"])
    if columns:
        table, names = table.select([names.index(c) for c in columns]), columns
    frame = table.to_pandas()
    frame.columns = names
    return frame


class Workspace:
    """The stage files of one batch, or of one chunk of it (``<batch_id>/c00003``): frames
    (Arrow) and small facts (JSON), by name."""

    def __init__(self, store: ObjectStore, batch_id: str) -> None:
        self.store, self.batch_id = store, batch_id

    @classmethod
    def of(cls, settings: Settings, batch_id: str) -> Workspace:
        return cls(stage_store(settings), batch_id)

    def chunk(self, index: int) -> Workspace:
        """The stage files of the batch's chunk ``index`` (removed with the batch's)."""
        return Workspace(self.store, chunk_ref(self.batch_id, index))

    def save_table(self, name: str, table: pa.Table, names: list[str]) -> None:
        """An Arrow table, read back by :meth:`load` with its columns named ``names``."""
        self.store.write(self._key(name), table_to_arrow(table, names))

    def _key(self, name: str) -> str:
        return f"{self.batch_id}/{name}"

    def save(self, name: str, frame: pd.DataFrame) -> None:
        self.store.write(self._key(name), to_arrow(frame))

    def load(self, name: str, columns: list[str] | None = None) -> pd.DataFrame:
        return from_arrow(self.store.read(self._key(name)), columns)

    def write_json(self, name: str, value: object) -> None:
        """A small stage fact (counts, encoding, results)."""
        self.store.write(self._key(name), json.dumps(value, ensure_ascii=False, default=str).encode())

    def read_json(self, name: str) -> object:
        return json.loads(self.store.read(self._key(name)))

    def exists(self, name: str) -> bool:
        return any(o.key == self._key(name) for o in self.store.list(self.batch_id + "/"))

    def remove(self) -> None:
        """Every stage file of the batch (no clear copies left behind)."""
        if isinstance(self.store, LocalStore):
            shutil.rmtree(self.store.root / self.batch_id, ignore_errors=True)
            return
        for obj in self.store.list(self.batch_id + "/"):
            self.store.delete(obj.key)


def chunk_ref(batch_id: str, index: int) -> str:
    """How tasks name one chunk of a batch (also its stage folder): ``<batch_id>/c00003``."""
    return f"{batch_id}/c{index:05d}"


def parse_ref(ref: str) -> tuple[str, int | None]:
    """(batch id, chunk index) of a chunk ref; (batch id, None) for a batch id."""
    batch_id, _, chunk = ref.partition("/")
    return batch_id, int(chunk[1:]) if chunk else None


def leftovers(store: ObjectStore) -> dict[str, datetime]:
    """Batches with stage files in the store, and when each was last written."""
    found: dict[str, datetime] = {}
    for obj in store.list(""):
        batch_id = obj.key.split("/", 1)[0]
        if "/" in obj.key and not batch_id.startswith("."):
            found[batch_id] = max(found.get(batch_id, obj.modified), obj.modified)
    return found
