"""Auto-instrumentation of LLM client libraries: `pyflare.integrations.openai`, `.anthropic`.

Each module has `instrument()` and `uninstrument()`; importing one does not import its client library
until `instrument()` is called.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["openai", "anthropic"]


def __getattr__(name: str) -> Any:
    # `pyflare.integrations.openai` without importing it first: loaded on first use
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
