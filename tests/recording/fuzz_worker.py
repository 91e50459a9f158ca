"""Child process of the recording fuzz test: runs ``info``, ``export`` and the replay loader
on each damaged copy and prints one JSON line per copy with the outcome of each.

``python -m tests.recording.fuzz_worker REFERENCE.h5 COPY.h5 ...``. Outcomes: ``exact``
(same as the reference), ``damaged`` (same except rows/records the reader reported as
damaged, which read as NaN / left out), ``refused`` (exit 2 and one stderr line starting
``nlviz: error:``, or a one-line message from the loader) or ``BAD: ...`` (anything else:
a traceback, a wrong value, a stray message). A hang or a crash of this process is seen
by the parent (timeout / negative exit code) on the copy without a line.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import traceback

import numpy as np

from nlviz.cli import main as cli_main
from nlviz.errors import UserError
from nlviz.recording import layout as L
from nlviz.replay.files import recording_note, try_open
from nlviz.replay.player import Player
from nlviz.replay.source import ReplaySource


def run_cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = cli_main(args)
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else 1
        except BaseException:  # noqa: BLE001 - the point is to report it
            rc = -999
            err.write(traceback.format_exc())
    return int(rc), out.getvalue(), err.getvalue()


def refusal(rc: int, out: str, err: str) -> bool:
    lines = err.strip().splitlines()
    return rc == 2 and len(lines) == 1 and lines[0].startswith("nlviz: error:") and not out


def info_lines(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if not ln.startswith(("file:", "file size:"))]


def classify_info(ref: list[str], path: str) -> str:
    rc, out, err = run_cli(["info", path])
    if refusal(rc, out, err):
        return "refused"
    if rc != 0 or err:
        return f"BAD: info rc {rc}: {err[-400:]}"
    lines = info_lines(out)
    if lines == ref:
        return "exact"
    if any(ln.startswith("damaged:") for ln in lines):
        skip: tuple[str, ...] = ("damaged:", "duration:")
        if any(ln.strip().startswith(("/events/", "/probes/", "/snapshots/", "/states/"))
               and "/step " in ln for ln in lines):
            skip += ("events:",)         # a damaged step index: fewer records readable
        head = [ln for ln in lines if not ln.startswith(skip)
                and not ln.startswith("                /")]
        want = [ln for ln in ref if not ln.startswith(skip)]
        if head == want:
            return "damaged"
    return f"BAD: info differs: {sorted(set(lines) ^ set(ref))[:6]}"


def classify_export(ref_csv: str, path: str, tmp: str) -> str:
    out_csv = os.path.join(tmp, "out.csv")
    if os.path.exists(out_csv):
        os.remove(out_csv)
    rc, out, err = run_cli(["export", path, "--csv", out_csv])
    if refusal(rc, out, err):
        return "BAD: export refused but left a CSV" if os.path.exists(out_csv) else "refused"
    if rc != 0 or err:
        return f"BAD: export rc {rc}: {err[-400:]}"
    with open(out_csv, encoding="utf-8") as fh:
        text = fh.read()
    return "exact" if text == ref_csv else "BAD: exported CSV differs from the original"


def loader_data(path: str) -> dict | str:
    """What the replay window loads, or the one-line message that refuses the file."""
    rec = try_open(path)
    if isinstance(rec, str):
        return rec
    try:
        src = ReplaySource(rec, raw_limit=100, max_points=20)
        player = Player.from_recording(rec)
        last = int(rec.steps[-1]) if rec.n_rows else 0
        view = src.raw()
        summ = src.summary()
        snaps = {int(s): src.snapshot_at(int(s)) for s in src._snap_steps}
        inp = src.input_at(last)
        return {
            "rec": rec, "note": (recording_note(rec) or "").replace(os.path.basename(path), "F"),
            "steps": np.asarray(player.steps),
            "level": view.level, "fired": view.fired, "scalars": view.scalars,
            "regime": view.regime, "summ_steps": summ.steps, "summ_min": summ.level_min,
            "summ_max": summ.level_max, "bucket": summ.bucket_rows,
            "snaps": {s: (np.stack(r.weights), np.stack(r.updates)) for s, r in snaps.items()
                      if r is not None},
            "probes": [(p.step, p.ages, p.errors) for p in src.probes_at(last)],
            "events": src.events_until(last), "inputs": None if inp is None else inp.inputs,
        }
    except UserError as exc:
        rec.close()
        return " ".join(str(exc).split())


def _eq(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind == "f":
        return bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))
    return bool(np.array_equal(a, b))


def classify_loader(ref: dict, path: str) -> str:
    got = loader_data(path)
    if isinstance(got, str):
        ok = got and "\n" not in got and os.path.basename(path) in got
        return "refused" if ok else f"BAD: loader message {got!r}"
    rec = got["rec"]
    try:
        damaged = list(rec.damaged)
        if not _eq(got["steps"], ref["steps"]) or got["note"] != ref["note"]:
            return "BAD: loader steps or note differ"
        bad_steps = np.zeros(len(ref["steps"]), bool)
        for d in damaged:
            if d.first_step is not None and not d.path.startswith(("snapshots", "probes",
                                                                   "events", "states")):
                bad_steps |= (ref["steps"] >= d.first_step) & (ref["steps"] <= d.last_step)
        keep = ~bad_steps
        for key in ("level", "fired", "scalars", "regime"):
            if not _eq(got[key][..., keep], ref[key][..., keep]):
                return f"BAD: loader {key} differs outside the damaged rows"
        if got["inputs"] is not None and not _eq(got["inputs"][keep[-len(got['inputs']):]],
                                                 ref["inputs"][keep[-len(ref['inputs']):]]):
            return "BAD: loader inputs differ outside the damaged rows"
        if not _eq(got["summ_steps"], ref["summ_steps"]):
            return "BAD: loader summary steps differ"
        b = ref["bucket"]
        for i, s in enumerate(ref["summ_steps"]):
            lo = int(np.searchsorted(ref["steps"], s))
            if bad_steps[lo:lo + b].any():
                continue
            for key in ("summ_min", "summ_max"):
                if not _eq(got[key][..., i], ref[key][..., i]):
                    return f"BAD: loader {key} differs in an undamaged bucket ({s})"
        snap_damage = {s for s in ref["snaps"] for d in damaged
                       if d.path.startswith("snapshots")
                       and (d.first_step is None or d.first_step <= s <= d.last_step)}
        for s, (w, u) in ref["snaps"].items():
            if s not in got["snaps"]:
                if s in snap_damage or any(d.path == L.D_SNAP_STEP for d in damaged):
                    continue
                return f"BAD: snapshot {s} missing"
            gw, gu = got["snaps"][s]
            if not (_eq(gw, w) and _eq(gu, u)) and s not in snap_damage:
                return f"BAD: snapshot {s} differs without being reported damaged"
        probe_damage = any(d.path.startswith("probes") for d in damaged)
        if len(got["probes"]) != len(ref["probes"]) and not probe_damage:
            return "BAD: probes differ"
        for (s1, a1, e1), (s2, a2, e2) in zip(got["probes"], ref["probes"]):
            if not (s1 == s2 and _eq(a1, a2) and _eq(e1, e2)) and not probe_damage:
                return "BAD: probes differ without being reported damaged"
        if got["events"] != ref["events"] and not any(d.path.startswith("events")
                                                      for d in damaged):
            return "BAD: events differ without being reported damaged"
        return "damaged" if damaged else "exact"
    finally:
        rec.close()


def main(argv: list[str]) -> int:
    reference, copies = argv[0], argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        rc, out, err = run_cli(["info", reference])
        assert rc == 0 and not err, err
        ref_info = info_lines(out)
        ref_csv_path = os.path.join(tmp, "ref.csv")
        rc, _out, err = run_cli(["export", reference, "--csv", ref_csv_path])
        assert rc == 0 and not err, err
        with open(ref_csv_path, encoding="utf-8") as fh:
            ref_csv = fh.read()
        ref_loader = loader_data(reference)
        assert isinstance(ref_loader, dict), ref_loader
        ref_loader["rec"].close()
        print(json.dumps({"ready": True}), flush=True)
        for path in copies:
            res = {"path": path}
            for name, fn in (("info", lambda p=path: classify_info(ref_info, p)),
                             ("export", lambda p=path: classify_export(ref_csv, p, tmp)),
                             ("loader", lambda p=path: classify_loader(ref_loader, p))):
                try:
                    res[name] = fn()
                except BaseException:  # noqa: BLE001
                    res[name] = "BAD: traceback: " + traceback.format_exc()[-600:]
            print(json.dumps(res), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
