"""Batch files: the NACHA and CPA-005 readers beside PyPI peers and a ``bytes.split`` floor.

    python -m bench batch [--sizes 10000,100000,1000000] [--repeat 3] [--target 5]

For each size a payroll file is written to a temporary directory: NACHA (PPD credit batches of
10,000 entries, 2,000 banks, 94-character records, padded) and CPA-005 (C records of six
transactions). Every reader reads the same file from disk, reading included in its time:

- passerelle streams it from the open file (``nacha.Reader`` / ``cpa005.Reader``): record
  lengths, characters, check digits, SEC code rules, trace numbers, control totals and entry
  hash, every entry yielded and counted. ``read`` (the whole file as one ``BatchFile`` of
  pydantic models, what a diff needs) is shown beside it.
- NACHA peers take the file's text, as their API asks: ``ach`` 0.2 (``Parser(text).as_dict()``,
  dicts, no checks), ``comanage-nacha`` 0.2.7 (``Parser().parse(text)``, objects, no checks),
  ``achkit`` 0.2 (``validate(text)``: record lengths, blocking, control totals). No CPA-005
  reader is published on PyPI (none of its packages names CPA-005, Standard 005 or Canadian
  EFT files): CPA-005's ratio is to the fastest NACHA peer's rate at the same size, the
  nearest published work (a transaction of 240 characters, an entry of 94), and MB/s compares
  the two formats per byte.
- The floor reads the file and splits it into lines (``bytes.split``): what any reader does.

Times are CPU time of this process (``time.process_time``: the readers run in one thread, and
other processes' load, which comes and goes on a shared machine, does not count), the best of
``--repeat`` rounds in which the readers take turns (two rounds at 1M entries and over); the
garbage collector runs as usual. Rate is entries (NACHA) or transactions (CPA-005) per second;
the ratio is passerelle's rate over the fastest peer's, against ``--target`` from 100,000
entries on (a smaller file is shown, not held to it). Memory is measured per size in
a fresh process reading the file with the streaming reader: tracemalloc peak, and max RSS
(``VmHWM``) beside the RSS the process had before reading; the streaming target is a peak at
the largest size within 1.2x of the smallest's. Bambora CSV (EFT rows) is measured for memory
only: ``bambora.Reader`` streams it the same way.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from passerelle.formats import bambora, cpa005, nacha
from passerelle.formats._records import routing_check_digit

BANKS = 2000
BATCH = 10_000
STREAM_TARGET = 1.2
TARGET_FROM = 100_000
"""The smallest size the speed target holds for."""


# --- files ------------------------------------------------------------------------------------


def write_nacha(path: Path, entries: int, seed: int = 1) -> None:
    """A PPD payroll file of `entries` credits in batches of 10,000, written record by record
    (a batch counts its records in 6 digits)."""
    rnd = random.Random(seed)
    banks = [f"{rnd.randrange(10**8):08d}" for _ in range(BANKS)]
    checks = {bank: routing_check_digit(bank) for bank in banks}
    file_hash = file_credits = batches = 0
    with path.open("w", encoding="ascii", newline="\n") as out:
        out.write(
            f"101 091000019 0910000192612041015A094101{'FIRST BANK':23}{'SAGE PAYROLL':23}{'':8}\n"
        )
        for first in range(1, entries + 1, BATCH):
            batches += 1
            out.write(
                f"5220{'SAGE PAYROLL':16}{'':20}1234567890PPDPAYROLL   {'':6}261207   1"
                f"09100001{batches:07d}\n"
            )
            entry_hash = credits = 0
            last = min(first + BATCH, entries + 1)
            for i in range(first, last):
                bank = banks[rnd.randrange(BANKS)]
                cents = rnd.randrange(1, 10**6)
                account = f"{rnd.randrange(10**9)}-{rnd.randrange(100):02d}"
                out.write(
                    f"622{bank}{checks[bank]}{account:17}{cents:010d}{f'EMP-{i}':15}"
                    f"{f'EMPLOYEE {i}':22}  009100001{i:07d}\n"
                )
                entry_hash += int(bank)
                credits += cents
            out.write(
                f"8220{last - first:06d}{entry_hash % 10**10:010d}{0:012d}{credits:012d}"
                f"1234567890{'':25}09100001{batches:07d}\n"
            )
            file_hash += entry_hash
            file_credits += credits
        records = entries + 2 * batches + 2
        blocks = math.ceil(records / 10)
        out.write(
            f"9{batches:06d}{blocks:06d}{entries:08d}{file_hash % 10**10:010d}{0:012d}"
            f"{file_credits:012d}{'':39}\n"
        )
        out.write(("9" * 94 + "\n") * (blocks * 10 - records))


def write_cpa005(path: Path, transactions: int, seed: int = 1) -> None:
    """A CPA-005 payroll file of `transactions` credits, six to a C record."""
    rnd = random.Random(seed)
    control = "PAYROLL001" + "0042"
    total = 0
    with path.open("w", encoding="cp1252", newline="\n") as out:
        out.write(f"A000000001{control}02634100000{'':20}CAD".ljust(1464) + "\n")
        record = 1
        for first in range(0, transactions, 6):
            segments = []
            for i in range(first, min(first + 6, transactions)):
                cents = rnd.randrange(1, 10**7)
                total += cents
                segments.append(
                    f"200{cents:010d}0263420{rnd.randrange(1000):03d}{rnd.randrange(10**5):05d}"
                    f"{rnd.randrange(10**9):<12}{'0' * 22}000{'PAYROLL':15}{f'EMPLOYEE {i}':30}"
                    f"{'ACME PAYROLL':30}{'PAYROLL001':10}{f'EMP-{i}':19}{'0' * 9}{'':12}"
                    f"{'':15}{'':22}  {'0' * 11}"
                )
            record += 1
            out.write(f"C{record:09d}{control}{''.join(segments)}".ljust(1464) + "\n")
        record += 1
        trailer = f"Z{record:09d}{control}{0:014d}{0:08d}{total:014d}{transactions:08d}"
        out.write((trailer + "0" * 44).ljust(1464) + "\n")


def write_bambora(path: Path, rows: int, seed: int = 1) -> None:
    """A Bambora EFT file of `rows` credits."""
    rnd = random.Random(seed)
    with path.open("w", encoding="ascii", newline="\r\n") as out:
        for i in range(rows):
            out.write(
                f"E,C,{rnd.randrange(1, 1000):03d},{rnd.randrange(10**5):05d},"
                f"{rnd.randrange(10**7, 10**9)},{rnd.randrange(1, 10**6)},{i + 1},EMPLOYEE {i}\n"
            )


# --- readers ----------------------------------------------------------------------------------


def count(entries: Iterable[object]) -> int:
    n = 0
    for _ in entries:
        n += 1
    return n


def floor(path: Path) -> int:
    return len(path.read_bytes().split(b"\n"))


def nacha_stream(path: Path) -> int:
    with path.open("rb") as file:
        return count(nacha.Reader(file, filename=path.name))


def nacha_batch(path: Path) -> int:
    return len(nacha.read(path.read_bytes(), filename=path.name).entries)


def cpa005_stream(path: Path) -> int:
    with path.open("rb") as file:
        return count(cpa005.Reader(file, filename=path.name))


def bambora_stream(path: Path) -> int:
    with path.open("rb") as file:
        return count(bambora.Reader(file, filename=path.name))


def cpa005_batch(path: Path) -> int:
    return len(cpa005.read(path.read_bytes(), filename=path.name).entries)


def ach_peer(path: Path) -> int:
    from ach.parser import Parser  # a peer, installed for the benchmark only

    data = Parser(path.read_text(encoding="ascii")).as_dict()
    return sum(len(batch["entries"]) for batch in data["batches"])


def comanage_peer(path: Path) -> int:
    from comanage_nacha import Parser  # a peer, installed for the benchmark only

    parsed = Parser().parse(path.read_text(encoding="ascii"))
    return sum(len(batch.entries) for batch in parsed.batches)


def achkit_peer(path: Path) -> int:
    from achkit import validate  # a peer, installed for the benchmark only

    result = validate(path.read_text(encoding="ascii"))
    if not result["ok"]:
        raise AssertionError(f"achkit refuses the file: {result['errors'][:3]}")
    return -1  # validate says whether the file holds together, not what it holds


PEERS: dict[str, Callable[[Path], int]] = {
    "ach 0.2 (dicts, no checks)": ach_peer,
    "comanage-nacha 0.2.7 (objects, no checks)": comanage_peer,
    "achkit 0.2 validate (totals, lengths)": achkit_peer,
}


# --- measuring --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    reader: str
    seconds: float
    items: int
    size: int
    """Bytes in the file."""

    @property
    def rate(self) -> float:
        return self.items / self.seconds

    @property
    def throughput(self) -> float:
        """MB (10**6 bytes) per second."""
        return self.size / self.seconds / 1e6


def best_of(
    runs: dict[str, Callable[[Path], int]], path: Path, items: int, repeat: int
) -> dict[str, float]:
    """The best CPU time of each run over `repeat` rounds, the runs taking turns in each round so
    that what load from other processes still costs falls on all alike. Each run that
    counts entries (not the floor, not a validator that only says yes) must find `items`."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            gc.collect()
            start = time.process_time()
            found = run(path)
            times[name].append(time.process_time() - start)
            if run is not floor and found not in (items, -1):
                raise AssertionError(f"{name} read {found} entries, not {items}")
    return {name: min(found) for name, found in times.items()}


def available_peers() -> dict[str, Callable[[Path], int]]:
    found = {}
    for name, peer in PEERS.items():
        module = {"ach": "ach.parser", "comanage-nacha": "comanage_nacha", "achkit": "achkit"}[
            name.split()[0]
        ]
        try:
            __import__(module)
        except ImportError:
            print(f"   ({name} is not installed: pip install -e '.[bench]')")
            continue
        found[name] = peer
    return found


def memory(kind: str, path: Path) -> dict[str, int]:
    """Peak memory of streaming `path` in a fresh process (max RSS is per process)."""
    out = subprocess.run(
        [sys.executable, "-m", "bench", "batch", "--memory", kind, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout))


def status_kb(field: str) -> int:
    """A memory figure of this process from /proc (Linux), in KiB: VmHWM is the max RSS since
    the process started, which unlike ru_maxrss does not carry the parent's over a fork."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def measure_memory(kind: str, path: Path) -> None:
    reader = {"nacha": nacha_stream, "cpa005": cpa005_stream, "bambora": bambora_stream}[kind]
    before = status_kb("VmHWM")
    tracemalloc.start()
    items = reader(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    after = status_kb("VmHWM")
    json.dump({"items": items, "peak": peak, "rss_before": before, "rss_max": after}, sys.stdout)


def human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.1f} {unit}" if unit != "B" else f"{size:,.0f} B"
        size /= 1024
    raise AssertionError


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench batch", description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--target", type=float, default=5.0)
    parser.add_argument("--memory", nargs=2, metavar=("FORMAT", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory:
        measure_memory(args.memory[0], Path(args.memory[1]))
        return 0
    sizes = [int(size) for size in args.sizes.split(",")]
    peers = available_peers()
    status = 0
    fastest_peer: dict[int, Row] = {}
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        for kind, write, stream, whole in (
            ("nacha", write_nacha, nacha_stream, nacha_batch),
            ("cpa005", write_cpa005, cpa005_stream, cpa005_batch),
        ):
            unit = "entries" if kind == "nacha" else "transactions"
            print(f"\n{kind}: {unit} per second, best of {args.repeat} (2 at 1M and over)")
            if kind == "cpa005":
                print(
                    "   no CPA-005 reader is published on PyPI: the ratio is to the fastest "
                    "NACHA peer's entries/s at the same size"
                )
            print(
                f"{'size':>9} {'reader':<44} {'ms':>9} {unit + '/s':>15} {'MB/s':>7} {'ratio':>7}"
            )
            memories = {}
            for size in sizes:
                path = Path(tmp) / f"{kind}-{size}.dat"
                write(path, size)
                repeat = min(2, args.repeat) if size >= 1_000_000 else args.repeat
                ours_name = f"passerelle {kind}.Reader (stream, all checks)"
                runs: dict[str, Callable[[Path], int]] = {
                    "floor: read + bytes.split": floor,
                    ours_name: stream,
                }
                if size <= 100_000:
                    runs[f"passerelle {kind}.read (BatchFile)"] = whole
                if kind == "nacha":
                    runs.update(peers)
                seconds = best_of(runs, path, size, repeat)
                rows = [Row(name, seconds[name], size, path.stat().st_size) for name in runs]
                ours = rows[1]
                peer_rows = [row for row in rows if row.reader in peers]
                if peer_rows:
                    fastest_peer[size] = max(peer_rows, key=lambda row: row.rate)
                fastest = fastest_peer.get(size)
                for row in rows:
                    ratio = ""
                    if fastest is not None and row is ours:
                        ratio = f"{row.rate / fastest.rate:6.2f}x"
                        if kind != "nacha":
                            ratio += " (vs NACHA peer)"
                        if size >= TARGET_FROM and row.rate / fastest.rate < args.target:
                            ratio += " < target"
                            status = 1
                    print(
                        f"{size:>9,} {row.reader:<44} {row.seconds * 1000:>9,.0f} "
                        f"{row.rate:>15,.0f} {row.throughput:>7,.0f} {ratio:>7}",
                        flush=True,
                    )
                memories[size] = memory(kind, path)
                path.unlink()
            if not print_memory(kind, memories):
                status = 1
        memories = {}
        for size in sizes:
            path = Path(tmp) / f"bambora-{size}.csv"
            write_bambora(path, size)
            memories[size] = memory("bambora", path)
            path.unlink()
        if not print_memory("bambora", memories):
            status = 1
    return status


def print_memory(kind: str, memories: dict[int, dict[str, int]]) -> bool:
    """Prints the memory streaming took at each size; whether the peak stayed flat."""
    print(f"\n{kind} streaming memory (fresh process per size)")
    print(f"{'size':>9} {'tracemalloc peak':>17} {'max RSS':>10} {'RSS before':>11}")
    for size, found in memories.items():
        print(
            f"{size:>9,} {human(found['peak']):>17} {human(found['rss_max'] * 1024):>10} "
            f"{human(found['rss_before'] * 1024):>11}"
        )
    sizes = list(memories)
    small, large = memories[sizes[0]], memories[sizes[-1]]
    growth = large["peak"] / small["peak"]
    rss_growth = large["rss_max"] / small["rss_max"]
    verdict = "ok" if growth <= STREAM_TARGET else "over target"
    print(
        f"peak at {sizes[-1]:,} / at {sizes[0]:,}: tracemalloc {growth:.2f}x, "
        f"max RSS {rss_growth:.2f}x (target <= {STREAM_TARGET}x: {verdict})"
    )
    return growth <= STREAM_TARGET
