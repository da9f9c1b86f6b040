"""``.env.example`` -> ``.env``: the stack's settings with fresh secrets (standard library only).

``.env.example`` is the one source of the production-like stack's settings:
docker-compose.yaml takes each value from it (``${NAME}``) and so does the
native harness (tests/distributed). A key with an empty value there is a
secret; :func:`secrets_for` makes one of the right shape for each.

    python3 include/jinshu/dev/envfile.py .env     # what `make .env` runs; never overwrites
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[3] / ".env.example"
_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$\$")


def _hex32() -> str:
    return secrets.token_hex(32)


def _fernet() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def _keyring() -> str:
    return json.dumps({"active": "k1", "keys": {"k1": _hex32()}}, separators=(",", ":"))


# Each secret's shape; a secret not named here gets 32 random bytes in hex.
SHAPES: dict[str, Callable[[], str]] = {"FERNET_KEY": _fernet, "JINSHU_DATA_KEYS": _keyring}


def parse(text: str, source: str = ".env") -> dict[str, str]:
    """``KEY=value`` lines in order (comments and blank lines skipped); a malformed line is an
    error naming it."""
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if not match or "$" in match[2] or match[2] != match[2].strip():
            raise ValueError(f"{source}, line {number}: not a plain KEY=value line. Fix: write "
                             "NAME=value with no spaces around '=', no quotes and no '$'")
        if match[1] in values:
            raise ValueError(f"{source}, line {number}: {match[1]} is set twice. Fix: keep one")
        values[match[1]] = match[2]
    return values


def example() -> dict[str, str]:
    """The settings of ``.env.example``, secrets empty."""
    return parse(EXAMPLE.read_text(encoding="utf-8"), str(EXAMPLE))


def secret_names(settings: Mapping[str, str]) -> list[str]:
    return [name for name, value in settings.items() if value == ""]


def secrets_for(settings: Mapping[str, str]) -> dict[str, str]:
    """A fresh value for every empty (secret) setting."""
    return {name: SHAPES.get(name, _hex32)() for name in secret_names(settings)}


def interpolate(text: str, values: Mapping[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}``, ``${NAME:?error}`` and ``$$`` in ``text``."""
    def one(match: re.Match) -> str:
        if match[0] == "$$":
            return "$"
        name, kind, argument = match[1], match[2], match[3]
        value = values.get(name, "")
        if value == "" and kind == ":-":
            return argument
        if value == "" and kind == ":?":
            raise KeyError(f"{name} is not set: {argument}")
        return value
    return _REFERENCE.sub(one, text)


def references(text: str) -> set[str]:
    """The names ``text`` takes from the environment (``${NAME...}``)."""
    return {m[1] for m in _REFERENCE.finditer(text) if m[1]}


def write_env(target: Path) -> Path:
    """``.env.example`` with every empty secret filled, written to ``target`` (0600)."""
    if target.exists():
        raise FileExistsError(f"{target} exists: its secrets protect existing data (the keys, the "
                              "metadata DB's connections). Fix: edit it, or move it away first")
    text = EXAMPLE.read_text(encoding="utf-8")
    fresh = secrets_for(example())
    lines = [f"{line}{fresh[line[:-1]]}" if line.endswith("=") and line[:-1] in fresh else line
             for line in text.splitlines()]
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")
    return target


if __name__ == "__main__":
    path = write_env(Path(sys.argv[1] if len(sys.argv) > 1 else ".env"))
    print(f"{path}: settings from {EXAMPLE.name}, {len(secret_names(example()))} fresh secrets "
          "(keep a copy of JINSHU_* and FERNET_KEY: data written with them needs them)")
