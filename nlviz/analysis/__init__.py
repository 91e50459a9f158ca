"""Numbers derived from a run, for the views and ``nlviz report``.

Qt-free, torch-free and h5py-free (an import-linter contract in pyproject.toml): every
function takes plain numpy arrays, a ``HistoryView`` or engine records, so the live
buffers, replay and the headless report share one definition of each number.

Modules: ``switches`` (regime spans and switches), ``derived`` (per-step update rate,
cumulative path, level labels, shared/constant gates), ``health`` (collapse, constant
gate, NaN, worse than copying), ``retention`` (switch-aligned averages, recovery after a
switch), ``forgetting_split`` (probe errors by quantity and regime), ``evalmatrix``
(per-regime evaluation matrix, forgetting, backward transfer), ``grouping`` (runs grouped
by config without the seed; mean and spread bands).
"""
