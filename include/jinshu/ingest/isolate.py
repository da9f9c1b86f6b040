"""Read an extract where a hostile file cannot take the worker down.

A workbook is parsed in a child process (a new interpreter) whose address
space is capped at the contract's ``limits.max_memory_mb`` (``RLIMIT_AS``):
if the parser asks for more, the child dies and the file is quarantined with
the limit that stopped it; the worker goes on. The child hands back the
records as an Arrow stage file in a private scratch folder. Other files are
read in-process (their size is capped before they are read).

The child is a subprocess, not a ``multiprocessing`` one: a Celery worker runs
each task in a daemonic process, and daemonic processes may not have
``multiprocessing`` children (every workbook failed on the CeleryExecutor).
"""

from __future__ import annotations

import json
import pickle
import resource
import signal
import subprocess
import sys
import tempfile
from pathlib import Path, PurePosixPath

from jinshu.catalog import Limits
from jinshu.collect.guard import check_xlsx
from jinshu.collect.read import Extract, HeaderScore, UnreadableFile, read_extract
from jinshu.store.workspace import from_arrow, to_arrow

ISOLATED = (".xlsx",)
OUT_OF_MEMORY = {-signal.SIGABRT, -signal.SIGKILL, -signal.SIGSEGV, 3}  # how a capped child ends


def _child(scratch: str) -> None:
    """In the child: read ``scratch``/source as the pickled arguments say, under the cap."""
    folder = Path(scratch)
    name, limits, score = pickle.loads((folder / "arguments.pickle").read_bytes())
    cap = limits.max_memory_mb << 20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    facts = folder / "facts.json"
    try:
        extract = read_extract(name, (folder / "source").read_bytes(), limits, score)
        (folder / "read.arrow").write_bytes(to_arrow(extract.frame))
        facts.write_text(json.dumps({"encoding": extract.encoding,
                                     "header_row": extract.header_row}))
    except UnreadableFile as error:
        facts.write_text(json.dumps({"error": [error.rule, error.detail, error.fix]}))
    except MemoryError:
        raise SystemExit(3) from None


def memory_exceeded(limits: Limits) -> UnreadableFile:
    return UnreadableFile(
        "memory_limit", f"reading the workbook needed more than the cap of {limits.max_memory_mb:,} "
        "MB of memory (the reader was stopped; nothing was kept)",
        "split the workbook into smaller files or send the extract as CSV, or ask the platform "
        "team to raise limits.max_memory_mb in the dataset's contract")


def read_capped(name: str, data: bytes, limits: Limits, score: HeaderScore | None = None,
                scratch_in: Path | None = None) -> Extract:
    """:func:`jinshu.collect.read.read_extract`, with a workbook parsed in a memory-capped child.

    ``scratch_in``: where the child's private scratch folder is made (default: the system's);
    it is removed when the child ends.
    """
    if PurePosixPath(name).suffix.lower() not in ISOLATED:
        return read_extract(name, data, limits, score)
    check_xlsx(data, limits)  # a workbook beyond the limits never reaches the parser
    with tempfile.TemporaryDirectory(prefix="read-", dir=scratch_in) as scratch:
        folder = Path(scratch)
        (folder / "source").write_bytes(data)
        (folder / "arguments.pickle").write_bytes(pickle.dumps((name, limits, score)))
        exitcode = subprocess.run(  # the child's own output stays out of the task log
            [sys.executable, "-m", "jinshu.ingest.isolate", scratch], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode
        facts_path = folder / "facts.json"
        if exitcode in OUT_OF_MEMORY:
            raise memory_exceeded(limits)
        if exitcode != 0 or not facts_path.exists():
            raise UnreadableFile("xlsx", f"the workbook cannot be read (the reader stopped with "
                                 f"code {exitcode})", "save the workbook again as .xlsx")
        facts = json.loads(facts_path.read_text())
        if "error" in facts:
            raise UnreadableFile(*facts["error"])
        return Extract(from_arrow((folder / "read.arrow").read_bytes()), facts["encoding"],
                       header_row=facts["header_row"])


if __name__ == "__main__":
    _child(sys.argv[1])
