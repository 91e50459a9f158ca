"""What the replay window says about an open recording: the Run dock's text and the
stream's regime names."""
from __future__ import annotations

from nlviz.recording.reader import Recording
from nlviz.replay.compare import flatten


def regime_names(rec: Recording) -> tuple[str, ...]:
    """The recorded stream's regime names (rebuilt from its config), or () if unknown."""
    try:
        from engine.config import Config
        from engine.streams import make_stream
        cfg = Config.from_dict(rec.config)
        return tuple(make_stream(cfg.stream, rec.spec.d_in, cfg.run.seed).regime_names())
    except Exception:  # noqa: BLE001 - names are a nicety; the index is shown instead
        return ()


def info_text(rec: Recording) -> str:
    """File, steps, state, origin and the whole flattened config, one fact a line."""
    lines = [f"file: {rec.path}", f"steps: {rec.n_rows:,}" + (
        f" ({int(rec.steps[0]):,} to {int(rec.steps[-1]):,})" if rec.n_rows else ""),
        f"complete: {rec.complete}", f"created: {rec.created_utc}",
        f"device: {rec.device}", f"stream: {rec.stream}",
        f"levels: {', '.join(rec.levels)}"]
    if rec.parent_run:
        lines.append(f"branched from: {rec.parent_run} at step {rec.parent_step}")
    lines.append("")
    lines += [f"{k} = {v!r}" for k, v in sorted(flatten(rec.config).items())]
    return "\n".join(lines)


__all__ = ["info_text", "regime_names"]
