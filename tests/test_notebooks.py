"""Every notebook executes top to bottom (nbclient), with its small default parameters.

The kernel is this very interpreter: a kernel spec is written to a temp folder pointing
at `sys.executable`, so a fresh clone needs no `ipykernel install` and never picks up
some other Python's kernel. Notebooks run from notebooks/ (as a person would) and
write their sweep folders to a temp dir through an injected `out_dir` parameter
(papermill's convention: a cell after the one tagged `parameters`).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NAMES = [p.stem for p in NOTEBOOKS]

@pytest.fixture(scope="module")
def kernel_manager_factory(tmp_path_factory: pytest.TempPathFactory):
    from ipykernel.kernelspec import write_kernel_spec
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    kernels = tmp_path_factory.mktemp("kernels")
    write_kernel_spec(kernels / "workbench-tests")  # argv: [sys.executable, -m, ipykernel_launcher, ...]
    specs = KernelSpecManager(kernel_dirs=[str(kernels)])
    return lambda: KernelManager(kernel_name="workbench-tests", kernel_spec_manager=specs)


def test_notebooks_are_committed_clean_with_a_parameters_cell() -> None:
    assert NAMES == ["01_quickstart", "02_cap_tradeoff", "03_raft_election", "04_read_modes", "05_pbs"]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), f"{path.name}: strip outputs"
        assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1, path.name


@pytest.mark.parametrize("name", NAMES)
def test_notebook_executes(name: str, kernel_manager_factory, tmp_path: Path) -> None:
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    index = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    if "out_dir" in nb.cells[index].source:
        injected = nbformat.v4.new_code_cell(f"out_dir = {str(tmp_path / 'out')!r}")
        injected.metadata["tags"] = ["injected-parameters"]
        nb.cells.insert(index + 1, injected)

    km = kernel_manager_factory()
    client = NotebookClient(nb, km=km, timeout=180,
                            resources={"metadata": {"path": str(ROOT / "notebooks")}})
    try:
        client.execute()
    finally:  # nbclient leaves a kernel it did not start alive (seen: one per notebook)
        if km.has_kernel:
            km.shutdown_kernel(now=True)

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert images, "the notebook's plots did not display"
