"""Which tests are slow (applied by tests/conftest.py; see there)."""
from __future__ import annotations

from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent          # tests/

SLOW = frozenset({
    "engine/test_fast_path.py::test_compiled_path_equals_the_eager_engine",
    "engine/test_fast_path.py::test_no_recompilation_across_phases_live_edits_and_reset",
    "engine/test_fast_path.py::test_a_faulty_block_is_replayed_eagerly_with_the_exact_step",
    "engine/test_engine_budget.py::test_peak_resident_memory_stays_within_the_estimate",
    "recording/test_cli.py::test_ctrl_c_keeps_steps_and_closes_cleanly",
    "recording/test_cli.py::test_ctrl_c_while_auto_compiles_in_the_background_exits_cleanly",
    "recording/test_cli.py::test_bad_input_exits_2_with_one_line",
    "recording/test_fuzz_recording.py::test_fuzzed_recordings_read_exactly_or_refuse_in_one_line",
    "recording/test_live.py::test_reader_follows_a_file_being_written",
    "recording/test_live.py::test_kill_9_keeps_committed_rows_and_reads_as_recovered",
    "recording/test_malformed.py::test_live_refresh_never_mixes_lengths",
    "recording/test_writer_safety.py::test_disk_full_stops_with_one_line_and_keeps_the_committed_steps",
    "recording/test_writer_safety.py::test_second_record_to_a_file_being_written_is_refused",
    "recording/test_writer_safety.py::test_existing_recording_is_kept_unless_overwrite",
    "recording/test_writer_safety.py::test_output_folder_removed_mid_run_is_reported",
    "recording/test_writer_safety.py::test_unusable_output_is_one_line",
    "recording/test_writer_safety.py::"
    "test_disk_full_before_the_first_step_is_one_line_and_leaves_no_file",
    "recording/test_writer_safety.py::test_overwrite_of_a_file_open_in_a_replay_is_refused",
    "recording/test_writer_safety.py::test_record_device_cuda_without_cuda_says_so_and_stores_both",
    "analysis/test_report.py::test_report_groups_seeds_and_its_means_and_spreads_match_the_files",
    "gui/test_replay.py::test_loop_selection_wraps_inside_the_selection",
    "gui/test_app_quit.py::test_ctrl_c_in_the_terminal_quits_cleanly_with_a_complete_recording",
    "gui/test_record_overwrite.py::test_record_flag_with_overwrite_replaces_it",
    "gui/test_screenshot.py::test_window_size_800x600_gives_that_picture_after_the_engine_is_up",
    "gui/test_screenshot.py::test_screenshot_as_svg_by_suffix",
    "gui/test_screenshot.py::test_screenshot_run_writes_non_blank_png",
    "gui/test_screenshot.py::test_bad_app_arguments_are_one_line",
    "gui/test_screenshot.py::test_replay_window_size_below_its_minimum_is_refused",
    "gui/test_screenshot.py::test_bad_window_size_is_one_line",
})


def slow_key(item: pytest.Item) -> str:
    """``file::function`` of a test, as ``SLOW`` names it."""
    rel = Path(item.path).resolve().relative_to(TESTS).as_posix()
    return f"{rel}::{getattr(item, 'originalname', item.name)}"
