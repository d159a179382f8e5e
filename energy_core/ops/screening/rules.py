"""The screening rules for hourly demand published by Ruggles et al. (2020), "Developing reliable hourly
electricity demand data through screening and imputation", Scientific Data 7:155.

The rules run in the paper's order, and each one sees what the ones before it left: a flagged hour is
missing for every later rule. Step 1 needs no statistics (non-positive values, identical runs, ten times
the median, the hours beside those). The statistics of step 2 are computed once, from what step 1
left; then the local, double-sided delta, single-sided delta and anomalous-region rules run.
docs/screening.md states each rule and threshold; :class:`ScreeningConfig` holds the thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
import polars as pl


class Category(IntEnum):
    """What the screening made of an hour; ``OKAY`` and ``MISSING`` are not flags."""

    OKAY = 0
    MISSING = 1
    NEG_OR_ZERO = 2
    IDENTICAL_RUN = 3
    GLOBAL_DEM = 4
    GLOBAL_DEM_PLUS_MINUS = 5
    LOCAL_DEM_UP = 6
    LOCAL_DEM_DOWN = 7
    DELTA = 8
    SINGLE_DELTA = 9
    ANOMALOUS_REGION = 10


FLAGS = tuple(c for c in Category if c not in (Category.OKAY, Category.MISSING))
"""The categories that flag a reported value, in the order the rules run."""


@dataclass(frozen=True)
class ScreeningConfig:
    """The paper's thresholds (its Table 1); windows are in hours either side of the hour screened."""

    global_multiple: float = 10.0
    """GLOBAL_DEM: a value at least this many times the series' median."""
    short_hours: int = 24
    """The 48-hour moving median M48 spans this many hours either side."""
    long_days: int = 10
    """The 480-hour moving median and the diurnal template span this many days either side."""
    iqr_hours: int = 120
    """The rolling interquartile ranges span this many hours either side (240 hours)."""
    local_up: float = 3.5
    """LOCAL_DEM_UP: a value this many IQRs of its deviation above the expected value."""
    local_down: float = 2.5
    """LOCAL_DEM_DOWN: a value this many IQRs of its deviation below the expected value."""
    delta_multiple: float = 2.0
    """DELTA: a jump from both neighbours, the same way, of this many IQRs of the hourly change."""
    single_delta_multiple: float = 5.0
    """SINGLE_DELTA: a jump from the last good hour of this many IQRs of the hourly change..."""
    single_delta_relative: float = 15.0
    """...and of this many (global) IQRs of the change in the value relative to its expected value."""
    region_hours: int = 24
    """ANOMALOUS_REGION: the window around a poor stretch, in hours either side."""
    region_good: float = 0.85
    """ANOMALOUS_REGION: a stretch is poor when at most this share of its hours is OKAY or MISSING."""
    published_edges: bool = False
    """ANOMALOUS_REGION near either end of the series as the authors' code has it, which counts the hours
    beyond an end as flagged (and never flags the first hour): the first and last day of a run can then be
    flagged for being at an end. Only for reproducing their published categories; by default a window cut
    by an end counts the hours it holds."""


PAPER = ScreeningConfig()
"""The thresholds as published."""


def screen(demand: np.ndarray, config: ScreeningConfig = PAPER) -> np.ndarray:
    """The category code of every hour of ``demand``: consecutive hours, NaN where nothing was reported."""
    d = np.array(demand, dtype=np.float64)  # a copy: each rule blanks what it flags
    cat = np.where(np.isnan(d), Category.MISSING, Category.OKAY).astype(np.int8)
    if not np.isfinite(d).any():
        return cat
    _flag(d, cat, d <= 0, Category.NEG_OR_ZERO)
    run = np.zeros(len(d), dtype=bool)
    run[2:] = (d[2:] == d[1:-1]) & (d[2:] == d[:-2])  # the third and later hours of one repeated value
    _flag(d, cat, run, Category.IDENTICAL_RUN)
    if np.isfinite(d).any():
        _flag(d, cat, d >= config.global_multiple * np.nanmedian(d), Category.GLOBAL_DEM)
    beside = np.zeros(len(d), dtype=bool)
    beside[:-1] |= cat[1:] == Category.GLOBAL_DEM
    beside[1:] |= cat[:-1] == Category.GLOBAL_DEM
    _flag(d, cat, beside & (cat == Category.OKAY), Category.GLOBAL_DEM_PLUS_MINUS)
    if np.isfinite(d).any():
        _step_two(d, cat, _Statistics.of(d, config), config)
    _flag(d, cat, anomalous_regions(cat, config), Category.ANOMALOUS_REGION)
    return cat


@dataclass(frozen=True)
class _Statistics:
    """What step 2 measures an hour against, computed once from what step 1 left."""

    expected: np.ndarray
    """M48 times the diurnal template: the value the hour's position in its day and fortnight suggests."""
    deviation_iqr: np.ndarray
    """Rolling IQR of (value - M48)."""
    delta_pre: np.ndarray
    delta_post: np.ndarray
    delta_iqr: np.ndarray
    """Rolling IQR of the hour-to-hour change."""
    relative: np.ndarray
    """value / expected."""
    relative_long: np.ndarray
    """value / (M480 times the diurnal template)."""
    relative_delta_iqr: float
    """IQR of the hour-to-hour change of ``relative`` over the whole series."""

    @classmethod
    def of(cls, d: np.ndarray, config: ScreeningConfig) -> _Statistics:
        long = 24 * config.long_days
        m48 = _rolling(d, config.short_hours, config.short_hours - 1, "median")
        m480 = _rolling(d, long, long - 1, "median")
        deviation = d - m48
        offsets = range(-config.long_days, config.long_days + 1)
        template = 1.0 + _row_medians(np.stack([_shift(deviation, 24 * k) for k in offsets], axis=1)) / m480
        pre, post = d - _shift(d, 1), d - _shift(d, -1)
        relative = d / (m48 * template)
        change = np.diff(relative)
        change = change[np.isfinite(change)]
        q25, q75 = np.percentile(change, [25, 75]) if change.size else (np.nan, np.nan)
        return cls(expected=m48 * template, deviation_iqr=_rolling_iqr(deviation, config.iqr_hours),
                   delta_pre=pre, delta_post=post, delta_iqr=_rolling_iqr(pre, config.iqr_hours), relative=relative,
                   relative_long=d / (m480 * template), relative_delta_iqr=float(q75 - q25))


def _step_two(d: np.ndarray, cat: np.ndarray, stats: _Statistics, config: ScreeningConfig) -> None:
    _flag(d, cat, ~(d < stats.expected + config.local_up * stats.deviation_iqr), Category.LOCAL_DEM_UP)
    _flag(d, cat, ~(d > stats.expected - config.local_down * stats.deviation_iqr), Category.LOCAL_DEM_DOWN)
    limit = config.delta_multiple * stats.delta_iqr  # a NaN statistic compares false: nothing is flagged on it
    jump = (((stats.delta_pre > limit) & (stats.delta_post > limit))
            | ((stats.delta_pre < -limit) & (stats.delta_post < -limit)))
    _flag(d, cat, jump, Category.DELTA)
    _single_sided_deltas(d, cat, stats, config)


def _single_sided_deltas(d: np.ndarray, cat: np.ndarray, stats: _Statistics, config: ScreeningConfig) -> None:
    """Walk forwards, then backwards, comparing each hour with the last one kept; an hour far from it in
    both absolute and relative terms is flagged. Forwards, when the last kept hour is the one further
    from its expected value, the current hour is kept instead (the backward walk then finds the other)."""
    values, relative, relative_long = d.tolist(), stats.relative.tolist(), stats.relative_long.tolist()
    limits = (config.single_delta_multiple * stats.delta_iqr).tolist()
    relative_limit = config.single_delta_relative * stats.relative_delta_iqr

    def away(i: int) -> float:
        return max(abs(1.0 - relative[i]), abs(1.0 - relative_long[i]))

    for forwards, hours in ((True, range(len(values))), (False, range(len(values) - 1, -1, -1))):
        kept = -1
        for i in hours:
            if values[i] != values[i]:  # NaN: missing or already flagged
                continue
            if kept < 0:
                kept = i
            if (abs(values[kept] - values[i]) > limits[i]
                    and abs(relative[kept] - relative[i]) > relative_limit
                    and not (forwards and away(i) < away(kept))):
                values[i] = np.nan
                cat[i] = Category.SINGLE_DELTA
            else:
                kept = i
    d[:] = values


def anomalous_regions(cat: np.ndarray, config: ScreeningConfig = PAPER) -> np.ndarray:
    """OKAY hours stranded among flagged ones: within ``region_hours`` of a point whose surrounding
    ``2 * region_hours + 1`` hours are at most ``region_good`` OKAY or MISSING, and neither the end of
    ``region_hours + 1`` good hours, nor the start of such, nor in a good stretch longer than ``region_hours``.
    Windows cut by either end of the series count the hours they hold."""
    w = config.region_hours
    good = (cat == Category.OKAY) | (cat == Category.MISSING)
    n = len(cat)
    centred = _window_mean(good, w, w)
    pre, post = _window_mean(good, w, 0), _window_mean(good, 0, w)
    lengths = _stretch_lengths(good)
    if config.published_edges:
        centred[:w], centred[n - w:], pre[:w], post[n - w:] = 0.0, 0.0, 0.0, 0.0
        if good[-1]:
            lengths[n - lengths[-1]:] = 0  # the last stretch is never closed, so its length stays 0
    poor = np.concatenate([[0], np.cumsum(centred <= config.region_good)])
    lo, hi = np.clip(np.arange(n) - w + 1, 0, n), np.clip(np.arange(n) + w + 1, 0, n)
    near_poor = poor[hi] - poor[lo] > 0  # a poor centre within [j - w + 1, j + w]
    flagged = near_poor & (cat == Category.OKAY) & (pre < 1.0) & (post < 1.0) & (lengths <= w)
    if config.published_edges:
        flagged[0] = False
    return flagged


def _flag(d: np.ndarray, cat: np.ndarray, where: np.ndarray, category: Category) -> None:
    """Give ``category`` to the hours of ``where`` that still hold a value, and blank them for later rules."""
    hit = where & ~np.isnan(d)
    cat[hit] = category
    d[hit] = np.nan


def _rolling(x: np.ndarray, before: int, after: int, statistic: str, quantile: float = 0.5) -> np.ndarray:
    """A NaN-skipping statistic over [t - before, t + after] for every t (NaN where the window is empty)."""
    padded = pl.Series(np.concatenate([x, np.full(after, np.nan)])).fill_nan(None)
    size = before + after + 1
    rolled = (padded.rolling_median(size, min_samples=1) if statistic == "median"
              else padded.rolling_quantile(quantile, interpolation="linear", window_size=size, min_samples=1))
    return rolled.to_numpy()[after:].astype(np.float64)


def _rolling_iqr(x: np.ndarray, half: int) -> np.ndarray:
    return _rolling(x, half, half - 1, "quantile", 0.75) - _rolling(x, half, half - 1, "quantile", 0.25)


def _shift(x: np.ndarray, k: int) -> np.ndarray:
    """``x`` moved ``k`` places later (``k`` < 0: earlier), NaN where nothing moved in."""
    out = np.full_like(x, np.nan)
    if abs(k) >= len(x):
        return out
    if k >= 0:
        out[k:] = x[:len(x) - k]
    else:
        out[:k] = x[-k:]
    return out


def _row_medians(matrix: np.ndarray) -> np.ndarray:
    out = np.full(matrix.shape[0], np.nan)
    rows = ~np.isnan(matrix).all(axis=1)  # an all-NaN row stays NaN (nanmedian would warn)
    out[rows] = np.nanmedian(matrix[rows], axis=1)
    return out


def _window_mean(flags: np.ndarray, before: int, after: int) -> np.ndarray:
    """Share of true values over [t - before, t + after], cut at the ends of the series."""
    n = len(flags)
    total = np.concatenate([[0], np.cumsum(flags)])
    lo, hi = np.clip(np.arange(n) - before, 0, n), np.clip(np.arange(n) + after + 1, 0, n)
    return (total[hi] - total[lo]) / (hi - lo)


def _stretch_lengths(good: np.ndarray) -> np.ndarray:
    """For each hour of a run of true values, that run's length (0 elsewhere)."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], good.astype(np.int8), [0]])))
    lengths = np.zeros(len(good), dtype=np.int64)
    for start, end in zip(edges[::2], edges[1::2], strict=True):
        lengths[start:end] = end - start
    return lengths
