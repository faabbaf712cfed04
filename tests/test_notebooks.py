"""Every notebook in notebooks/ runs top to bottom, and is stored without outputs.

Each ``notebooks/*.ipynb`` is picked up automatically. It is executed in a fresh
``python3`` kernel with the notebooks folder as working directory (as an analyst
opening it in Jupyter would have), and any error in any cell fails the test. The
executed copy is thrown away: the stored file is never rewritten.

Stored notebooks must carry no outputs and no execution counts, so the repository
stays small and diffs show only what changed in the code and the prose. Clear them
before committing (Jupyter: Edit > Clear Outputs of All Cells; or, where nbconvert
is installed, ``jupyter nbconvert --clear-output --inplace notebooks/*.ipynb``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="notebook tests need the dev extras")
nbclient = pytest.importorskip("nbclient", reason="notebook tests need the dev extras")
from jupyter_client.kernelspec import find_kernel_specs  # noqa: E402  (installed with nbclient)

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
KERNEL = "python3"
CELL_TIMEOUT_S = 300


def _read(path: Path):  # -> nbformat.NotebookNode
    return nbformat.read(path, as_version=nbformat.NO_CONVERT)


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_notebook_is_stored_without_outputs(path: Path) -> None:
    nb = _read(path)
    dirty = [
        i
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count"))
    ]
    assert not dirty, (
        f"{path.name}: code cells {dirty} carry outputs or execution counts; clear them "
        "before committing (Jupyter: Edit > Clear Outputs of All Cells)"
    )


@pytest.mark.parametrize("path", PATHS, ids=[p.name for p in PATHS])
def test_notebook_runs(path: Path) -> None:
    # ipykernel provides the native "python3" kernel; jupyter_client starts it with the
    # interpreter running these tests, so the kernel sees the same installed `sim`.
    specs = find_kernel_specs()
    if KERNEL not in specs:
        pytest.fail(
            f"no '{KERNEL}' Jupyter kernel (found {sorted(specs)}): install the dev extras, "
            "pip install -e '.[dev]' (which brings ipykernel)"
        )
    nb = _read(path)
    client = nbclient.NotebookClient(
        nb,
        kernel_name=KERNEL,
        timeout=CELL_TIMEOUT_S,
        allow_errors=False,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, on the first error
    errors = [
        (i, out.get("ename"))
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.get("output_type") == "error"
    ]
    assert not errors, f"{path.name}: cells raised {errors}"


def test_there_are_notebooks() -> None:
    assert PATHS, f"no notebooks found in {NOTEBOOKS}"
