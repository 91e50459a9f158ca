"""Every name, path, dtype and chunk size of the nlviz HDF5 run recording.

The writer (``writer.py``) and the reader (``reader.py``) import all names from here;
``docs/recording-format.md`` documents them. Minor versions only add datasets or
attributes; a major version changes meaning or layout.
"""
from __future__ import annotations

import numpy as np

SCHEMA = "nlviz.run"
SCHEMA_VERSION = "1.4"                 # 1.1: Fletcher-32 on every chunked dataset, device_requested
SCHEMA_MAJOR = 1                       # 1.2: JSON event payloads (/events/data), regime_names
SCHEMA_MINOR = 4                       # 1.3: model_json (the model the run used)
                                       # 1.4: /evals, metrics weight_norm, contribution,
                                       #      copy_loss, zero_loss, oracle_loss
EVENT_PAYLOAD_MINOR = 2                # first minor version whose events carry JSON payloads
MODEL_MINOR = 3                        # first minor version that stores model_json
EVALS_MINOR = 4                        # first minor version that stores /evals

# ---- root attributes ------------------------------------------------------------------
A_SCHEMA = "schema"
A_SCHEMA_VERSION = "schema_version"
A_CONFIG_JSON = "config_json"          # full resolved config at start (JSON)
A_SPEC_JSON = "spec_json"              # RunSpec (levels, metrics, d_in, probe_size) as JSON
A_CREATED_UTC = "created_utc"          # ISO 8601, UTC
A_NLVIZ_VERSION = "nlviz_version"
A_TORCH_VERSION = "torch_version"
A_DEVICE = "device"                    # the device the run actually ran on
A_DEVICE_REQUESTED = "device_requested"  # 1.1: the device asked for (auto/cpu/cuda/mps)
A_DEVICE_REASON = "device_reason"      # optional (issue 12): why that device (auto's measurement)
A_STREAM = "stream"                    # stream description at start
A_LEVEL_NAMES = "level_names"          # JSON list, level order of every (.., L, ..) axis
A_LEVEL_METRICS = "level_metrics"      # JSON list
A_GLOBAL_METRICS = "global_metrics"    # JSON list
A_MODEL_JSON = "model_json"            # 1.3: {"name", "sha256", "meta"} of the model (JSON)
A_PARENT_RUN = "parent_run"            # optional: file name of the run this one branched from
A_PARENT_STEP = "parent_step"          # optional: int64 step of the parent it continues after
A_FILE_KIND = "kind"                   # "run" here, "training" in nlviz.training files
                                       # (absent in files before issue 10: a run)
FILE_KIND = "run"
A_HEADER_CRC = "header_crc32"          # optional: CRC-32 of the other root attributes
                                       # (validate.header_checksum); their text lives in
                                       # HDF5's global heap, which has no checksum of its own

# ---- per-step datasets (row i = recorded step i) ----------------------------------------
D_STEPS = "steps"                      # int64 (N,) global engine step, strictly increasing
D_WALL_TIME = "wall_time"              # float64 (N,) seconds since the run started
D_REGIME = "regime"                    # int32 (N,)
D_TOKEN = "token"                      # int32 (N,) byte of text streams, else -1
D_INPUTS = "inputs"                    # float32 (N, d_in)
G_GLOBAL = "global"                    # /global/<metric> float32 (N,)
G_LEVELS = "levels"                    # /levels/<name>/<metric> float32 (N,), fired uint8 (N,)
D_FIRED = "fired"
A_UPDATE_PERIOD = "update_period"
A_KIND = "kind"
A_INDEX = "index"                      # position of the level in every level axis
A_SNAPSHOT_SHAPE = "snapshot_shape"
A_UNITS = "units"
A_DESCRIPTION = "description"

# ---- sparse records (own step index) ----------------------------------------------------
G_PROBES = "probes"
D_PROBE_STEP = "probes/step"           # int64 (P,)
D_PROBE_AGES = "probes/ages"           # int64 (P, probe_size), -1 = empty slot
D_PROBE_ERRORS = "probes/errors"       # float32 (P, L, probe_size), NaN = empty slot
G_SNAPSHOTS = "snapshots"
D_SNAP_STEP = "snapshots/step"         # int64 (S,)
G_SNAP_WEIGHTS = "snapshots/weights"   # /snapshots/weights/<level> float32 (S, rows, cols)
G_SNAP_UPDATES = "snapshots/updates"   # /snapshots/updates/<level> float32 (S, rows, cols)
G_EVENTS = "events"
D_EVENT_STEP = "events/step"           # int64 (E,)
D_EVENT_KIND = "events/kind"           # S16 (E,) ascii
D_EVENT_DETAIL = "events/detail"       # S256 (E,) utf-8 display text, truncated
D_EVENT_DATA_END = "events/data_end"   # 1.2: int64 (E,) end offset of event i's payload in
                                       # /events/data (it starts at the previous end, or 0)
D_EVENT_DATA = "events/data"           # 1.2: uint8 (B,) the events' JSON payloads, UTF-8,
                                       # concatenated (variable length, never truncated)
EVENT_KIND_LEN = 16
EVENT_DETAIL_LEN = 256
G_EVALS = "evals"                      # 1.4: frozen evaluations on held-out windows
D_EVAL_STEP = "evals/step"             # int64 (V,)
D_EVAL_LOSSES = "evals/losses"         # float32 (V, R) mean next-step loss per regime, NaN = none
D_EVAL_COPY = "evals/copy"             # float32 (V, R) copy-last-input loss, same windows
D_EVAL_VARIANT = "evals/variant"       # S64 (V,) "" | "knockout:<level>" | "restore:<level>@<step>"
EVAL_VARIANT_LEN = 64
G_STATES = "states"
D_STATE_STEP = "states/step"           # int64 (K,)
G_STATE_TENSORS = "states/tensors"     # /states/tensors/<name> (K, *shape)
A_TENSOR_NAMES = "tensor_names"        # JSON list on /states (engine names, may contain "/")
A_TEXT = "text"                        # attr on a tensor dataset: 1 = fixed bytes holding a str
STATE_TEXT_MIN_LEN = 4096

# ---- status (modified in place after each flush; allowed under SWMR) --------------------
D_ROWS_COMMITTED = "status/rows_committed"   # int64 (1,)
D_CLEAN_CLOSE = "status/clean_close"         # uint8 (1,)
D_NONFINITE = "status/nonfinite"             # int64 (S,) NaN/inf count per pyramid series
D_STATES_SKIPPED = "status/states_skipped"   # int64 (1,) states whose tensors did not match

# ---- min/max pyramid ---------------------------------------------------------------------
G_LOD = "lod"                          # /lod/b<B> float32 (N // B, S, 2): [min, max]
A_SERIES = "series"                    # JSON list on /lod: "<level>/<metric>", "global/<metric>"
LOD_FACTOR = 16
LOD_BUCKETS = (16, 256, 4096, 65536)   # rows per bucket at each pyramid level

# ---- dtypes, chunks, filters --------------------------------------------------------------
STEP_DTYPE = np.dtype(np.int64)
METRIC_DTYPE = np.dtype(np.float32)
FIRED_DTYPE = np.dtype(np.uint8)
ROW_CHUNK = 4096                       # rows per chunk of 1-D per-step series (16-32 KiB)
SPARSE_CHUNK = 256                      # max rows per chunk of sparse records (chunks capped at 256 KiB)
EVENT_DATA_CHUNK = 4096                 # bytes per chunk of /events/data
BLOB_CHUNK = 1                          # one record per chunk for compressed blobs (snapshots,
                                        # probes, states): appends never rewrite (and leak) a chunk
SCALAR_FILTERS: dict = {}              # no compression on per-step series (CPU-bound, tiny)
BLOB_FILTERS: dict = {"compression": "gzip", "compression_opts": 1, "shuffle": True}
CHECKSUM_FILTERS: dict = {"fletcher32": True}  # 1.1: added to every chunked dataset (damage is
                                        # detected per chunk on read; 1.0 files have none)


def level_path(level: str, name: str | None = None) -> str:
    """``levels/<level>`` or ``levels/<level>/<name>``."""
    return f"{G_LEVELS}/{level}" if name is None else f"{G_LEVELS}/{level}/{name}"


def global_path(metric: str) -> str:
    """``global/<metric>``."""
    return f"{G_GLOBAL}/{metric}"


def lod_path(bucket: int) -> str:
    """``lod/b<bucket>``."""
    return f"{G_LOD}/b{bucket}"


def state_path(tensor: str) -> str:
    """Dataset path of one engine-state tensor ("/" in engine names kept as groups)."""
    return f"{G_STATE_TENSORS}/{tensor}"


def series_names(level_names: tuple[str, ...] | list[str], level_metrics: tuple[str, ...] | list[str],
                 global_metrics: tuple[str, ...] | list[str]) -> list[str]:
    """Pyramid / non-finite series order: levels x metrics (level-major), then globals."""
    return [f"{lv}/{m}" for lv in level_names for m in level_metrics] + \
        [f"{G_GLOBAL}/{m}" for m in global_metrics]


def parse_version(text: str) -> tuple[int, int]:
    """``"MAJOR.MINOR"`` -> (major, minor); ValueError if malformed."""
    major, minor = str(text).split(".")
    return int(major), int(minor)
