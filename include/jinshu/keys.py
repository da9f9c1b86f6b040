"""Key material: from the environment in production, generated locally otherwise.

In the embedded default a key is created on first use under
``$JINSHU_HOME/keys`` with 0600 permissions. Keys are never logged and
never committed.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from jinshu.settings import Settings

KEY_BYTES = 32


def _local_key(path: Path) -> bytes:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(KEY_BYTES))
    return bytes.fromhex(path.read_text().strip())


def pseudonym_key(settings: Settings) -> bytes:
    """The HMAC key for subject pseudonyms."""
    if settings.pseudonym_key_hex:
        key = bytes.fromhex(settings.pseudonym_key_hex)
        if len(key) < KEY_BYTES:
            raise ValueError("JINSHU_PSEUDONYM_KEY must be at least 64 hex characters (32 bytes)")
        return key
    return _local_key(settings.keys_dir / "pseudonym.key")
