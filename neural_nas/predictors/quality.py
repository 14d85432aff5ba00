"""How well a predictor ranks and estimates held-out measurements."""

from __future__ import annotations

import numpy as np
from scipy.stats import kendalltau


def quality(y_true, y_pred) -> dict[str, float]:
    """``kendall_tau`` (rank agreement, what a search needs) and ``mape`` (mean absolute percentage error, in %).

    tau is NaN when either side is constant; MAPE is NaN when any true value is 0.
    """
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    if y_true.shape != y_pred.shape or y_true.size == 0:
        raise ValueError(f"y_true and y_pred need the same non-zero length; got {y_true.size} and {y_pred.size}")
    tau = kendalltau(y_true, y_pred)[0] if y_true.size > 1 else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        mape = float(np.mean(np.abs((y_pred - y_true) / y_true)) * 100) if (y_true != 0).all() else np.nan
    return {"kendall_tau": float(tau), "mape": mape}
