"""funcad.lax: lower-level operations (control flow lives here too)."""

from __future__ import annotations

from typing import Any

from funcad.api import stop_gradient  # noqa: F401
from funcad.numpy._base import prepare
from funcad.primitives.elementwise import select_n_p


def select(pred: Any, on_true: Any, on_false: Any) -> Any:
    """Elementwise `on_true` where `pred` else `on_false` (shapes must match)."""
    on_true, on_false = prepare("select", on_true, on_false)
    return select_n_p.bind(pred, on_false, on_true)
