"""Leak-guard throughput: MB/s of ``leakguard.scan`` over open-data-like CSV text.

The text is built from generated records of three contracts with their personal
fields masked (as open data and exchange tables carry them), plus a 32-hex record
hash and a free-text remark with masked numbers, dates and amounts: no raw
identifier. It is repeated up to ``--mb`` megabytes (UTF-8). Variants:

* *clean*: that text;
* *with hits*: a raw identifier (plain, spaced, dashed, glued, ...) in one row in ``--every``;
* *ASCII only*: the same records with English remarks, every non-ASCII character removed;
* *full-width spaces*: a full-width space (U+3000) in every remark, which sends each
  row through the guard's normalization (the slow path).

Each variant is scanned ``--repeat`` times; the median is reported.

    .venv/bin/python bench/leakguard_bench.py            # 50 MB, median of 3
    .venv/bin/python bench/leakguard_bench.py --mb 10 --repeat 1
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time

import numpy as np

from jinshu.catalog import load_catalog
from jinshu.dev.generate import generate_frame
from jinshu.protect.leakguard import scan
from jinshu.settings import DEFAULT_CATALOG_DIR
from jinshu.vocab import mask

CONTRACTS = ("social_insurance_enrollment", "enterprise_registration", "vaccination_sites")
MASKED = {"id_number": "cn_ric", "phone": "mobile", "name": "name", "email": "email",
          "legal_representative": "name"}
REMARKS = ("已核实，联系人电话 138****5678", "2026-11-25 上门走访，补缴 7358.26 元",
           "材料齐全", "证件号 1***************32 已登记", "", "第3批 2024/03/05-2024/04/30 办结",
           "编号 JZ25071531，地址变更")
ASCII_REMARKS = ("checked, tel 138****5678", "visit 2026-11-25, paid 7358.26", "complete",
                 "id 1***************32 registered", "", "batch 3 2024/03/05-2024/04/30 done",
                 "ref JZ25071531, address changed")
LEAKS = ("联系人 140105199803071232", "身份证 140105 19980307 1232", "电话 159-0044-9361",
         "卡号 6222 0212 3456 7890 128", "sfz140105199803071232", "+86 159 0044 9361")


def sample_csv(rows: int, seed: int, remarks: tuple[str, ...] = REMARKS) -> list[str]:
    """CSV lines (header excluded) of ``rows`` records from each contract, masked."""
    catalog = load_catalog(DEFAULT_CATALOG_DIR)
    rng = np.random.default_rng(seed)
    lines: list[str] = []
    for dataset in CONTRACTS:
        frame = generate_frame(catalog[dataset], rows, seed=seed)
        for column, kind in MASKED.items():
            if column in frame:
                frame[column] = mask.apply(kind, frame[column])
        keys = frame.iloc[:, 0].astype(str)
        frame["record_hash"] = [hashlib.blake2b(k.encode(), digest_size=16).hexdigest() for k in keys]
        frame["remark"] = rng.choice(remarks, size=rows)
        lines += frame.to_csv(index=False, header=False).splitlines()
    return lines


def build(lines: list[str], megabytes: float, every: int | None) -> tuple[str, int]:
    """``(text, leaks put in)``."""
    out, size, i, leaks = [], 0, 0, 0
    while size < megabytes * 1e6:
        line = lines[i % len(lines)]
        if every and i % every == every - 1:
            line += "," + LEAKS[(i // every) % len(LEAKS)]
            leaks += 1
        out.append(line)
        size += len(line.encode()) + 1
        i += 1
    return "\n".join(out) + "\n", leaks


def measure(text: str, repeat: int) -> tuple[float, int]:
    megabytes = len(text.encode()) / 1e6
    times, hits = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        hits = len(scan(text))
        times.append(time.perf_counter() - start)
    return megabytes / statistics.median(times), hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--every", type=int, default=1000, help="one leak in this many rows")
    args = parser.parse_args()
    lines = sample_csv(20_000, seed=7)
    clean, _ = build(lines, args.mb, None)
    leaky, leaks = build(lines, args.mb, args.every)
    ascii_lines = sample_csv(20_000, seed=7, remarks=ASCII_REMARKS)
    ascii_only, _ = build([line.encode("ascii", "ignore").decode() for line in ascii_lines], args.mb, None)
    spaced, _ = build([line.replace("，", "，\u3000") + ",\u3000" for line in lines], args.mb, None)
    for label, text, expected in (("clean", clean, 0), (f"with hits (1 in {args.every} rows)", leaky, leaks),
                                  ("ASCII only", ascii_only, 0), ("full-width spaces", spaced, 0)):
        rate, hits = measure(text, args.repeat)
        print(f"{label:<28} {len(text.encode()) / 1e6:6.1f} MB  {rate:7.1f} MB/s  "
              f"{hits} hits of {expected}")


if __name__ == "__main__":
    main()
