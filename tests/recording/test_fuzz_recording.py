"""Fuzz: flipped bytes and truncations of a valid (checksummed) recording.

Each damaged copy goes through ``nlviz info``, ``nlviz export`` and the replay loader (what
``--replay`` runs before drawing: ``try_open``, ``ReplaySource``, ``Player``) in a child
process (``fuzz_worker``) with a timeout. Every outcome must be an exact read, a read whose
differences are exactly the regions reported damaged, or a one-line refusal; never a
traceback, a wrong value, a hang or a crash. Seeded: the same copies every run.
"""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import h5py

from tests.recording.checksum_copy import checksum_copy

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "recording_v1_0.h5"
ROOT = Path(__file__).resolve().parents[2]
SEED = 8
BATCH = 20
BATCH_TIMEOUT_S = 120     # a batch of 20 copies takes a few seconds; a hang is far longer


def mutants(base: Path, out: Path, seed: int = SEED,
            counts: tuple[int, int, int, int, int] = (20, 12, 16, 6, 10)) -> list[tuple[Path, str]]:
    """(path, description) of damaged copies of ``base``: ``counts`` single-bit flips in
    the first 16 KiB (superblock, root and group headers, global heap), in the last 64 KiB
    (chunk indices, late metadata) and anywhere in between (data chunks), 32-byte runs
    overwritten, and truncations."""
    rnd = random.Random(seed)
    data = base.read_bytes()
    n = len(data)
    head, tail, mid, smash, cut = counts
    plan: list[tuple[str, int, int]] = []
    plan += [("flip-head", rnd.randrange(0, 16 << 10), rnd.randrange(8)) for _ in range(head)]
    plan += [("flip-tail", rnd.randrange(n - (64 << 10), n), rnd.randrange(8))
             for _ in range(tail)]
    plan += [("flip-data", rnd.randrange(16 << 10, n - (64 << 10)), rnd.randrange(8))
             for _ in range(mid)]
    plan += [("smash", rnd.randrange(0, n - 64), 0) for _ in range(smash)]
    plan += [("truncate", rnd.randrange(0, n), 0) for _ in range(cut)]
    out.mkdir(parents=True, exist_ok=True)
    result = []
    for i, (kind, off, bit) in enumerate(plan):
        b = bytearray(data)
        if kind.startswith("flip"):
            b[off] ^= 1 << bit
        elif kind == "smash":
            b[off:off + 32] = bytes(rnd.randrange(256) for _ in range(32))
        else:
            b = b[:off]
        p = out / f"m{i:02d}-{kind}-{off}.h5"
        p.write_bytes(bytes(b))
        result.append((p, f"{kind} at {off}" + (f" bit {bit}" if kind.startswith("flip") else "")))
    return result


def run_batch(reference: Path, paths: list[Path]) -> list[dict]:
    """Results of the worker for ``paths``; a hang or crash becomes a BAD result for the
    copy being worked on, and the rest of the batch is run again without it."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    results: list[dict] = []
    todo = list(paths)
    while todo:
        try:
            proc = subprocess.run([sys.executable, "-m", "tests.recording.fuzz_worker",
                                   str(reference), *map(str, todo)], cwd=ROOT, env=env,
                                  capture_output=True, text=True, timeout=BATCH_TIMEOUT_S)
            out, rc, why = proc.stdout, proc.returncode, f"exit code {proc.returncode}"
            err = proc.stderr
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
            rc, why, err = None, f"hang (> {BATCH_TIMEOUT_S} s)", ""
        lines = [json.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
        done = [r for r in lines if "path" in r]
        results += done
        todo = todo[len(done):]
        if rc == 0 and not todo:
            break
        if not any(r.get("ready") for r in lines):
            raise AssertionError(f"fuzz worker failed on the reference file: {why}\n{err[-2000:]}")
        if todo:
            bad = f"BAD: {why} {err[-300:]}"
            results.append({"path": str(todo[0]), "info": bad, "export": bad, "loader": bad})
            todo = todo[1:]
    return results


def test_fuzzed_recordings_read_exactly_or_refuse_in_one_line(tmp_path):
    """64 damaged copies of a cleanly closed recording and 20 of a recovered one (not
    closed: what a crashed or still-running writer leaves, read with clamped lengths)."""
    base = checksum_copy(GOLDEN, tmp_path / "base.h5", chunk_rows=128)
    recovered = checksum_copy(GOLDEN, tmp_path / "recovered.h5", chunk_rows=128)
    with h5py.File(recovered, "r+") as f:
        f["status/clean_close"][0] = 0
    sets = [(base, mutants(base, tmp_path / "m")),
            (recovered, mutants(recovered, tmp_path / "r", SEED + 1, (6, 4, 6, 2, 2)))]
    desc = {str(p): d for _, copies in sets for p, d in copies}
    results: list[dict] = []
    for reference, copies in sets:
        for i in range(0, len(copies), BATCH):
            results += run_batch(reference, [p for p, _ in copies[i:i + BATCH]])
    assert len(results) == len(desc) == 84
    cmds = ("info", "export", "loader")
    counts = Counter((cmd, r[cmd].split(":")[0]) for r in results for cmd in cmds)
    print("fuzz outcomes:", dict(sorted(counts.items())))
    bad = [f"{desc[r['path']]}: {cmd}: {r[cmd]}" for r in results
           for cmd in ("info", "export", "loader") if r[cmd].startswith("BAD")]
    assert not bad, "\n".join(bad)
    # the fuzz reaches every class of outcome (a fuzz that only ever refuses tests little)
    assert counts[("info", "refused")] and counts[("info", "exact")]
    assert counts[("loader", "damaged")] or counts[("info", "damaged")]
