"""The optional parts of energy: the extra that brings each library, what is installed, and the error
that names the extra when a command needs a library that is missing."""

from __future__ import annotations

import importlib.util

from energy_core.errors import MissingExtraError

EXTRAS = {"features": "lancedb", "ml": "mlx", "sql": "duckdb", "plot": "matplotlib", "serve": "fastapi"}
"""Each extra of energy-core and the library it brings (``[all]`` is all five; ``[cuda]`` is ``[ml]`` for an
NVIDIA GPU; ``[serve]`` also brings uvicorn and prometheus-client, which ``energy serve`` checks itself).
``tests/test_extras.py`` holds this to pyproject.toml."""


def installed() -> dict[str, bool]:
    """Whether each extra's library can be imported here (found, not imported)."""
    return {extra: importlib.util.find_spec(library) is not None for extra, library in EXTRAS.items()}


def missing_extra(exc: ModuleNotFoundError, command: str | None = None) -> MissingExtraError | None:
    """The error to show for ``exc`` when the module it misses is an extra's library, else None."""
    library = (exc.name or "").partition(".")[0]
    extra = next((name for name, module in EXTRAS.items() if module == library), None)
    if extra is None:
        return None
    who = f"`energy {command}`" if command else "this command"
    gpu = " ([cuda] instead on an NVIDIA GPU)" if extra == "ml" else ""
    return MissingExtraError(f"{who} needs {library}, which is not installed: pip install 'energy-core[{extra}]'"
                             f"{gpu}, or 'energy-core[all]' for every part")
