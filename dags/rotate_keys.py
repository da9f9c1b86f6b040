"""
### Rotate the data encryption key: re-encrypt every stored value to the active key

Manual trigger only. Use it on the key-rotation schedule, when someone who
held a data key leaves, or when a key may have leaked.

1. Add a new key to the keyring where it lives (`JINSHU_DATA_KEYS`, or the
   Airflow connection named by `JINSHU_KEYS_CONN_ID`), make it `active`, and
   **keep the old keys** in it. (Embedded default: `jinshu keys rotate` adds
   the key, rotates and verifies in one go.)
2. Trigger this DAG. `rotate` re-encrypts the sensitive fields of every
   dataset table and the sealed quarantined originals, one chunk per
   transaction, checking each value's plaintext and blind index before it
   writes; a verification failure stops it and names table, field and row
   (never a value). Interrupted or retried, it resumes where it stopped.
3. `verify` decrypts every value and recomputes its blind index; it fails
   the run when a value is still under an old key (trigger again) or does
   not match (restore it from the department's extract).
4. When the run is green, `jinshu keys status` shows no value under the old
   key: remove the old key from the keyring (`jinshu keys retire <id>` for
   the embedded keyring), after escrowing it for older store backups.
"""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import dag, task

from jinshu import tasks


@dag(
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=tasks.DEFAULT_ARGS,
    tags=["security", "keys"],
    doc_md=__doc__,
)
def rotate_keys():
    @task
    def rotate() -> dict[str, int]:
        return tasks.rotate_data_keys()

    @task
    def verify() -> dict[str, int]:
        return tasks.verify_data_keys()

    rotate() >> verify()


rotate_keys()
