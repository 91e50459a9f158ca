"""Input streams: the statistics each one promises, determinism by seed, random access
(``sample(t0, n)`` equals its pieces) and parameter validation naming the key."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.config import ConfigError, StreamConfig
from engine.streams import BLOCK, DEFAULT_TEXT, STREAMS, make_stream, stream_config_for


def _stream(name, dim=16, seed=0, **params):
    return make_stream(StreamConfig(name=name, params=tuple(sorted(params.items()))), dim, seed)


@pytest.fixture
def npy_file(tmp_path):
    p = tmp_path / "data.npy"
    np.save(p, np.random.default_rng(3).standard_normal((37, 16)).astype(np.float32))
    return p


def _all_streams(npy_file):
    return [_stream("associative_recall", n_pairs=7, repeats=2), _stream("regime_shift"),
            _stream("multi_timescale"), _stream("text"), _stream("noise"),
            _stream("file", path=str(npy_file))]


# ------------------------------------------------------------------- generic properties
def test_every_stream_covered(npy_file):
    assert {s.name for s in _all_streams(npy_file)} == set(STREAMS)


def test_sample_equals_concatenated_pieces(npy_file):
    for s in _all_streams(npy_file):
        t0, n = BLOCK - 7, 3 * BLOCK + 11            # crosses several block boundaries
        whole = s.sample(t0, n)
        cuts = [1, 6, 250, 13, BLOCK, 200]
        cuts.append(n - sum(cuts))
        parts, t = [], t0
        for c in cuts:
            parts.append(s.sample(t, c))
            t += c
        for field in ("x", "regime", "token"):
            got = np.concatenate([getattr(p, field) for p in parts])
            np.testing.assert_array_equal(getattr(whole, field), got, err_msg=f"{s.name} {field}")
        assert whole.x.shape == (n, 16) and whole.x.dtype == np.float32
        assert whole.regime.dtype == np.int32 and whole.token.dtype == np.int32
        # a fresh instance (no cache) gives the same window: random access by step
        fresh = make_stream(StreamConfig(s.name, tuple(
            (f, getattr(s.params, f)) for f in s.params.__dataclass_fields__)), 16, 0)
        np.testing.assert_array_equal(fresh.sample(t0 + 100, 50).x, whole.x[100:150])


def test_streams_are_endless_and_deterministic_by_seed(npy_file):
    for s in _all_streams(npy_file):
        far = s.sample(10_000_000, 5)
        assert far.x.shape == (5, 16) and np.isfinite(far.x).all()
        desc = s.describe()
        assert desc and "\n" not in desc
    for name in ("associative_recall", "regime_shift", "multi_timescale", "noise", "text"):
        a = _stream(name, seed=1).sample(0, 300).x
        b = _stream(name, seed=1).sample(0, 300).x
        c = _stream(name, seed=2).sample(0, 300).x
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c), name


# ------------------------------------------------------------------------- regime shift
def _residual_fraction(x, basis):
    """Fraction of the energy of rows x outside the row space spanned by ``basis``."""
    q, _ = np.linalg.qr(basis.T)
    proj = x @ q @ q.T
    return float(((x - proj) ** 2).sum() / (x ** 2).sum())


@pytest.mark.parametrize("noise", [0.0, 0.05])
def test_regime_shift_switches_at_n_and_returns(noise):
    N = 60
    s = _stream("regime_shift", switch_every=N, n_regimes=2, noise=noise)
    smp = s.sample(0, 4 * N)
    t = np.arange(4 * N)
    np.testing.assert_array_equal(smp.regime, (t // N) % 2)
    assert smp.regime[N - 1] == 0 and smp.regime[N] == 1 and smp.regime[2 * N] == 0
    assert s.regime_names() == ("A", "B")
    seg = [smp.x[i * N:(i + 1) * N].astype(np.float64) for i in range(4)]
    # each regime's signal spans its own 4-d subspace: find A's from segment 0
    _u, sv, vt = np.linalg.svd(seg[0], full_matrices=False)
    basis_a = vt[:4]
    tol = 1e-10 if noise == 0 else 0.05
    if noise == 0:
        assert sv[4] < 1e-5 * sv[0]                  # rank 4 exactly
    assert _residual_fraction(seg[2], basis_a) < tol  # A again: same pattern
    assert _residual_fraction(seg[1], basis_a) > 0.3  # B: a different pattern
    assert _residual_fraction(seg[3], basis_a) > 0.3
    basis_b = np.linalg.svd(seg[1], full_matrices=False)[2][:4]
    assert _residual_fraction(seg[3], basis_b) < tol
    # and B's subspace really is B's (not noise): rank 4 plus noise
    assert _residual_fraction(seg[1], basis_b) < tol


def test_regime_shift_three_regimes_cycle():
    s = _stream("regime_shift", switch_every=10, n_regimes=3)
    r = s.sample(0, 90).regime
    np.testing.assert_array_equal(r, (np.arange(90) // 10) % 3)
    assert s.regime_names() == ("A", "B", "C")


# -------------------------------------------------------------------- associative recall
@pytest.mark.parametrize("n_pairs,repeats", [(8, 1), (7, 2), (5, 3)])
def test_associative_recall_writes_then_queries_same_keys(n_pairs, repeats):
    dim, half = 16, 8
    s = _stream("associative_recall", dim=dim, n_pairs=n_pairs, repeats=repeats)
    ep = n_pairs * (repeats + 1)
    n_eps = 3 * BLOCK // ep
    smp = s.sample(0, n_eps * ep)
    all_keys = []
    for e in range(n_eps):
        x = smp.x[e * ep:(e + 1) * ep]
        r = smp.regime[e * ep:(e + 1) * ep]
        np.testing.assert_array_equal(r, np.r_[np.zeros(n_pairs * repeats), np.ones(n_pairs)])
        writes, queries = x[:n_pairs * repeats], x[n_pairs * repeats:]
        pairs = writes[:n_pairs]
        for rep in range(repeats):                       # repeated writes are identical
            np.testing.assert_array_equal(writes[rep * n_pairs:(rep + 1) * n_pairs], pairs)
        np.testing.assert_allclose(np.linalg.norm(pairs[:, :half], axis=1), 1.0, rtol=1e-6)
        assert (queries[:, half:] == 0).all()            # values zeroed in queries
        assert (np.abs(pairs[:, half:]).sum(1) > 0).all()
        # every key queried exactly once: the query keys are a permutation of the written ones
        match = (queries[:, None, :half] == pairs[None, :, :half]).all(-1)
        assert (match.sum(0) == 1).all() and (match.sum(1) == 1).all()
        all_keys.append(pairs[:, :half])
    assert not np.array_equal(all_keys[0], all_keys[1])  # fresh pairs each episode
    assert s.regime_names() == ("write", "query")


# ------------------------------------------------------------------------ multi timescale
@pytest.mark.parametrize("periods", [(4, 16, 64, 256), (8, 32)])
def test_multi_timescale_spectral_peaks_at_periods(periods):
    T = 4096
    s = _stream("multi_timescale", periods=list(periods))
    x = s.sample(0, T).x.astype(np.float64)
    power = np.abs(np.fft.rfft(x - x.mean(0), axis=0)) ** 2     # (T/2+1, dim)
    total = power.sum(1)
    freqs = np.fft.rfftfreq(T)
    top = np.argsort(total[1:])[::-1][:len(periods)] + 1
    assert sorted(round(1 / freqs[i]) for i in top) == sorted(periods)
    # the peaks dominate: each peak bin has > 100x the median bin power
    assert (total[top] > 100 * np.median(total[1:])).all()


# ---------------------------------------------------------------------------------- text
def test_text_yields_shipped_bytes_in_order_and_loops():
    s = _stream("text")
    data = np.frombuffer(DEFAULT_TEXT.read_bytes(), dtype=np.uint8)
    assert len(data) > 1000
    n = len(data) + 300
    smp = s.sample(0, n)
    np.testing.assert_array_equal(smp.token, data[np.arange(n) % len(data)].astype(np.int32))
    # each byte is one fixed unit vector
    np.testing.assert_array_equal(smp.x, s.table[smp.token])
    np.testing.assert_allclose(np.linalg.norm(smp.x, axis=1), 1.0, rtol=1e-6)
    spaces = smp.token == ord(" ")
    letters = np.isin(smp.token, np.r_[65:91, 97:123])
    assert (smp.regime[spaces] == 0).all() and (smp.regime[letters] == 1).all()
    assert str(len(data)) in s.describe()


def test_shipped_text_is_package_data_of_engine():
    import engine

    # engine/data/, next to the package itself: a wheel carries it (tests/test_wheel.py)
    assert DEFAULT_TEXT.parent == Path(engine.__file__).parent / "data"
    assert DEFAULT_TEXT.name == "alice_ch1.txt"
    assert DEFAULT_TEXT.read_bytes().startswith(b"Alice's Adventures in Wonderland")
    assert "alice_ch1.txt" in _stream("text").describe()


def test_text_custom_file(tmp_path):
    p = tmp_path / "t.txt"
    p.write_bytes(b"ab1.")
    s = _stream("text", dim=4, path=str(p))
    smp = s.sample(0, 10)
    np.testing.assert_array_equal(smp.token, np.frombuffer(b"ab1.ab1.ab", np.uint8))
    np.testing.assert_array_equal(smp.regime, [1, 1, 2, 3] * 2 + [1, 1])
    np.testing.assert_array_equal(smp.x[0], smp.x[4])


# --------------------------------------------------------------------------------- noise
@pytest.mark.parametrize("std", [1.0, 2.5])
def test_noise_zero_mean_and_std(std):
    dim, T = 16, 8192
    x = _stream("noise", dim=dim, std=std).sample(0, T).x.astype(np.float64)
    sigma = std / np.sqrt(dim)                         # per component; row norm ~ std
    assert np.abs(x.mean(0)).max() < 5 * sigma / np.sqrt(T)
    np.testing.assert_allclose(x.std(0), sigma, rtol=0.05)
    np.testing.assert_allclose(np.sqrt((x ** 2).sum(1).mean()), std, rtol=0.02)
    # no structure: lag-1 autocorrelation ~ 0
    ac = (x[1:] * x[:-1]).mean() / (x * x).mean()
    assert abs(ac) < 0.03
    assert (_stream("noise").sample(0, 300).regime == 0).all()


# ---------------------------------------------------------------------------------- file
def test_file_stream_loops_rows(npy_file):
    data = np.load(npy_file)
    s = _stream("file", path=str(npy_file))
    smp = s.sample(0, 3 * len(data) + 5)
    np.testing.assert_array_equal(smp.x, data[np.arange(3 * len(data) + 5) % len(data)])
    assert (smp.token == -1).all()


@pytest.mark.parametrize("arr,match", [
    (np.zeros((5, 3), np.float32), "width 3"),
    (np.zeros(5, np.float32), "shape"),
    (np.zeros((0, 16), np.float32), "no rows"),
    (np.full((4, 16), np.nan, np.float32), "NaN"),
])
def test_file_stream_bad_files_raise_config_error(tmp_path, arr, match):
    p = tmp_path / "bad.npy"
    np.save(p, arr)
    with pytest.raises(ConfigError, match=r"stream\.path") as info:
        _stream("file", path=str(p))
    assert match in str(info.value)


def test_file_stream_missing_and_not_npy(tmp_path):
    with pytest.raises(ConfigError, match=r"stream\.path"):
        _stream("file", path=str(tmp_path / "missing.npy"))
    p = tmp_path / "x.npy"
    p.write_text("not numpy")
    with pytest.raises(ConfigError, match=r"stream\.path"):
        _stream("file", path=str(p))
    with pytest.raises(ConfigError, match=r"stream\.path"):
        _stream("file")
    with pytest.raises(ConfigError, match=r"stream\.path"):
        _stream("text", path=str(tmp_path / "missing.txt"))


# ---------------------------------------------------------------------------- bad params
@pytest.mark.parametrize("name,params,key", [
    ("regime_shift", {"switch_every": 0}, "stream.switch_every"),
    ("regime_shift", {"n_regimes": 1.5}, "stream.n_regimes"),
    ("regime_shift", {"noise": -0.1}, "stream.noise"),
    ("regime_shift", {"bogus": 1}, "stream.bogus"),
    ("associative_recall", {"n_pairs": 0}, "stream.n_pairs"),
    ("associative_recall", {"repeats": True}, "stream.repeats"),
    ("multi_timescale", {"periods": [4, 0]}, "stream.periods"),
    ("multi_timescale", {"periods": []}, "stream.periods"),
    ("noise", {"std": "loud"}, "stream.std"),
    ("noise", {"switch_every": 3}, "stream.switch_every"),
    ("text", {"path": 3}, "stream.path"),
    ("nope", {}, "stream.name"),
])
def test_bad_stream_params_raise_naming_key(name, params, key):
    with pytest.raises(ConfigError) as info:
        _stream(name, **params)
    assert str(info.value).startswith(key), str(info.value)


def test_stream_config_for_cli_values(tmp_path):
    assert stream_config_for("noise").name == "noise"
    assert stream_config_for(str(tmp_path / "a.npy")).name == "file"
    assert stream_config_for(str(tmp_path / "a.txt")).name == "text"
    with pytest.raises(ConfigError, match="stream"):
        stream_config_for("nonsense")


# ------------------------------------------------------------- hostile stream files
def _file_error(path, dim=16) -> str:
    with pytest.raises(ConfigError) as info:
        _stream("file", dim=dim, path=str(path))
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith("stream.path: ") and str(path) in msg, msg
    return msg


@pytest.mark.parametrize("arr,message", [
    (np.zeros((4, 16), np.complex64), "has dtype complex64, complex: the imaginary part "
                                      "would be lost"),
    (np.zeros((4, 16), bool), "has dtype bool, expected real numbers (integer or float)"),
    (np.zeros(4, dtype=[("a", "f4")]), "has dtype [('a', '<f4')], expected real numbers "
                                       "(integer or float)"),
    (np.zeros((2, 4, 16), np.float32), "has shape (2, 4, 16), expected (T, 16)"),
    (np.zeros((0, 16), np.float32), "has no rows (shape (0, 16))"),
    (np.zeros((3, 15), np.float32), "has width 15, but model.d_in is 16"),
    (np.r_[np.zeros((6, 16)), np.full((1, 16), np.inf)],
     "row 6, column 0 is inf; NaN and inf are not allowed"),
    (np.r_[np.zeros((2, 16)), [[0.0] * 5 + [np.nan] + [0.0] * 10]],
     "row 2, column 5 is nan; NaN and inf are not allowed"),
    (np.full((2, 16), 1e300), "row 0, column 0 is 1e+300 (too large for float32); NaN and inf "
                              "are not allowed"),
])
def test_file_stream_refuses_bad_arrays_naming_the_value(tmp_path, arr, message):
    p = tmp_path / "bad.npy"
    np.save(p, arr)
    assert _file_error(p) == f"stream.path: {p} {message}"


def test_file_stream_refuses_object_arrays_without_unpickling(tmp_path):
    p = tmp_path / "obj.npy"
    np.save(p, np.array([[None] * 16] * 2, dtype=object), allow_pickle=True)
    assert _file_error(p) == f"stream.path: {p} has dtype object, expected real numbers " \
                             "(integer or float)"


def test_file_stream_refuses_corrupt_and_truncated_files(tmp_path):
    good = tmp_path / "good.npy"
    np.save(good, np.ones((10, 16), np.float32))
    raw = good.read_bytes()
    cases = {
        "empty.npy": b"",
        "header_eof.npy": b"\x93NUMPY\x01\x00\x10\x00{'descr': '<f4', 'fortran_order': False, "
                          b"'shape': (3,",
        "short_header.npy": raw[:100],
        "no_magic.npy": b"PK\x03\x04" + raw[4:],
        "short_data.npy": raw[:-10],
    }
    msgs = {}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        msgs[name] = _file_error(tmp_path / name)
    assert msgs["empty.npy"].endswith("is empty (0 bytes), not a .npy file")
    assert msgs["header_eof.npy"].endswith("is not a valid .npy file (EOF in multi-line "
                                           "statement)")
    assert "is not a valid .npy file (EOF: reading array header" in msgs["short_header.npy"]
    assert "is not a valid .npy file (the magic string is not correct" in msgs["no_magic.npy"]
    assert msgs["short_data.npy"].endswith("is truncated: its header declares shape (10, 16) "
                                           "(640 bytes of data) but 630 bytes follow it")


def test_file_stream_refuses_what_is_not_a_regular_file(tmp_path):
    import os

    assert _file_error(tmp_path / "missing.npy").endswith(": No such file or directory")
    (tmp_path / "dir.npy").mkdir()
    assert _file_error(tmp_path / "dir.npy").endswith("is a directory, not a regular file")
    fifo = tmp_path / "fifo.npy"
    os.mkfifo(fifo)                       # would block an open() for reading forever
    assert _file_error(fifo).endswith("is a FIFO (named pipe), not a regular file")
    if os.path.exists("/dev/zero"):
        assert _file_error("/dev/zero") == "stream.path: /dev/zero is a character device, " \
                                           "not a regular file"


def test_file_stream_refuses_a_file_larger_than_memory(tmp_path, monkeypatch):
    import engine.stream_files as sf

    p = tmp_path / "big.npy"
    np.save(p, np.ones((1000, 16), np.float64))
    monkeypatch.setattr(sf, "host_available_memory", lambda: 10_000)
    assert _file_error(p) == f"stream.path: {p} holds 1,000 rows x 16: loading it needs about " \
                             "64.0 kB, more than the 10.0 kB available"


@pytest.mark.parametrize("arr", [
    np.arange(48, dtype=np.int64).reshape(3, 16),
    np.asfortranarray(np.arange(48, dtype=np.float64).reshape(3, 16)),
    np.arange(48, dtype=">f4").reshape(3, 16),
    np.arange(48, dtype=np.float16).reshape(3, 16),
])
def test_file_stream_reads_every_real_dtype_and_layout(tmp_path, arr):
    p = tmp_path / "ok.npy"
    np.save(p, arr)
    s = _stream("file", path=str(p))
    np.testing.assert_array_equal(s.sample(0, 3).x, np.arange(48, dtype=np.float32).reshape(3, 16))


def test_file_stream_reads_in_pieces(tmp_path, monkeypatch):
    import engine.stream_files as sf

    monkeypatch.setattr(sf, "_READ_CHUNK", 100)      # a few rows per read
    data = np.random.default_rng(1).standard_normal((50, 16))
    data[37, 3] = np.nan
    p = tmp_path / "rows.npy"
    np.save(p, data)
    assert _file_error(p).endswith("row 37, column 3 is nan; NaN and inf are not allowed")
    data[37, 3] = 0.5
    np.save(p, data)
    np.testing.assert_array_equal(_stream("file", path=str(p)).sample(0, 50).x,
                                  data.astype(np.float32))


def test_text_stream_refuses_what_is_not_a_regular_file(tmp_path):
    import os

    fifo = tmp_path / "fifo.txt"
    os.mkfifo(fifo)
    for path, end in ((fifo, "is a FIFO (named pipe), not a regular file"),
                      (tmp_path, "is a directory, not a regular file")):
        with pytest.raises(ConfigError) as info:
            _stream("text", path=str(path))
        assert str(info.value) == f"stream.path: {path} {end}"
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"^stream\.path: .*empty\.txt is empty$"):
        _stream("text", path=str(tmp_path / "empty.txt"))


@pytest.mark.parametrize("name,params,message", [
    ("regime_shift", {"switch_every": 2**31}, "stream.switch_every: 2147483648 must be an "
                                              "integer in [1, 2147483647]"),
    ("regime_shift", {"n_regimes": 27}, "stream.n_regimes: 27 must be an integer in [1, 26]"),
    ("regime_shift", {"noise": float("nan")}, "stream.noise: nan must be a number in [0, 1e+06]"),
    ("noise", {"std": float("inf")}, "stream.std: inf must be a number in [0, 1e+06]"),
    ("associative_recall", {"n_pairs": 4097}, "stream.n_pairs: 4097 must be an integer in "
                                              "[1, 4096]"),
    ("associative_recall", {"repeats": 101}, "stream.repeats: 101 must be an integer in [1, 100]"),
    ("multi_timescale", {"periods": [4, 10**20]}, "stream.periods: [4, 100000000000000000000] "
                                                  "must be positive integers (at most 2147483647)"),
    ("multi_timescale", {"periods": list(range(1, 66))}, "stream.periods: 65 values, at most 64"),
])
def test_stream_params_past_their_caps_are_refused(name, params, message):
    with pytest.raises(ConfigError) as info:
        _stream(name, **params)
    assert str(info.value) == message


def test_associative_recall_episode_size_is_bounded():
    with pytest.raises(ConfigError) as info:
        _stream("associative_recall", dim=1024, n_pairs=4096, repeats=4)
    assert str(info.value) == ("stream.n_pairs: 4096 pairs x 5 passes x width 1024 = "
                               "20,971,520 values per episode, more than 16,777,216")
    assert _stream("associative_recall", dim=1024, n_pairs=4096, repeats=3).sample(0, 2).x.shape \
        == (2, 1024)


def test_unreadable_stream_files_are_refused_with_the_reason(tmp_path, monkeypatch):
    """(As root, permissions do not stop a read: the open is made to fail instead.)"""
    import errno
    import os

    import engine.stream_files as sf

    p = tmp_path / "locked.npy"
    np.save(p, np.ones((2, 16), np.float32))
    real_open = os.open

    def denied(path, flags, *args):
        if str(path) == str(p):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(sf.os, "open", denied)
    assert _file_error(p) == f"stream.path: cannot open {p}: Permission denied"
    with pytest.raises(ConfigError) as info:
        _stream("text", path=str(p))
    assert str(info.value) == f"stream.path: cannot open {p}: Permission denied"
