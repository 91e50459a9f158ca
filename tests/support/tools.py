"""Finding the command-line tools the tests run."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path


def console_script(name: str) -> str:
    """Path of the console script ``name`` installed with this interpreter (its bin/ first,
    then PATH); the bare name when neither has it, so running it fails with a clear error."""
    beside = Path(sys.executable).with_name(name)
    if beside.is_file():
        return str(beside)
    return shutil.which(name) or name
