"""Runs the notebooks top to bottom on a scan's output directory; fails on the first error.

    python notebooks/run.py OUT_DIR

Also checks that the committed notebooks carry no outputs (so that nothing stale is shown).
"""

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
NOTEBOOKS = ["investigate_leak.ipynb", "tune_detectors.ipynb"]


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    out = Path(sys.argv[1]).resolve()
    os.environ["LEAKHOUND_OUT"] = str(out)
    failed = 0
    for name in NOTEBOOKS:
        nb = nbformat.read(HERE / name, as_version=4)
        stale = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
        if stale:
            print(f"{name}: committed with outputs in cells {stale}; clear them before committing")
            failed += 1
            continue
        try:
            NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
        except Exception as e:  # nbclient raises CellExecutionError with the cell and traceback
            print(f"{name}: FAILED\n{e}")
            failed += 1
            continue
        print(f"{name}: ran {sum(c.cell_type == 'code' for c in nb.cells)} cells")
    print(f"notebooks: {len(NOTEBOOKS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
