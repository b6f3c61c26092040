"""Baselines a user-day is compared with: the user's own trailing days and their peer group.

Everything is vectorised over a dense (user x day) grid, because detection scores hundreds of
thousands of user-days per run: a groupby-rolling median per column would take minutes.
Inactive days are NaN, not zero: "47x the own median" means the median of the days the user
actually worked, so weekends and holidays do not drag every baseline to zero.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

# Consistent with a normal distribution's standard deviation (as in scipy's median_abs_deviation).
MAD_TO_SIGMA = 1.4826


def day_numbers(days: pd.Series) -> np.ndarray:
    """UTC dates as int32 day numbers (days since 1970-01-01), for fast grouping and indexing."""
    values = pd.to_datetime(days).to_numpy().astype("datetime64[D]")
    return values.astype(np.int64).astype(np.int32)


@dataclass(frozen=True)
class Grid:
    """Where each row of a (day, user_id) frame sits in a dense users x calendar-days grid."""

    rows: np.ndarray
    cols: np.ndarray
    n_users: int
    n_days: int

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Grid:
        codes, uniques = pd.factorize(frame["user_id"])
        number = day_numbers(frame["day"])
        first = int(number.min()) if len(number) else 0
        n_days = int(number.max()) - first + 1 if len(number) else 0
        return cls(codes, number - first, len(uniques), n_days)

    def dense(self, values: pd.Series) -> np.ndarray:
        """A column as float32 users x days, NaN where the user has no row that day."""
        grid = np.full((self.n_users, self.n_days), np.nan, dtype=np.float32)
        grid[self.rows, self.cols] = values.to_numpy(dtype=np.float32)
        return grid


def _left_padded(grid: np.ndarray, window: int) -> np.ndarray:
    """The grid with `window` days of NaN before its first day."""
    pad = np.full((grid.shape[0], window), np.nan, dtype=grid.dtype)
    return np.concatenate([pad, grid], axis=1)


def _window_index(
    shape: tuple[int, int], window: int, at: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """For each cell of `at` (rows, cols), where its previous `window` days sit in the
    flattened `_left_padded` grid: the day itself is excluded, so an anomaly never hides
    inside its own baseline. One (cells x window) gather serves every column of a grid of
    that shape (indexing a sliding-window view per column costs several times more), and
    only the cells asked for are sorted, not the days nobody was active."""
    rows, cols = at
    starts = rows.astype(np.intp) * (shape[1] + window) + cols.astype(np.intp)
    return starts[:, None] + np.arange(window, dtype=np.intp)


def _sorted_median(sorted_values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Median of each row of an ascending array whose NaNs sorted to the end."""
    safe = np.maximum(counts, 1)
    low = ((safe - 1) // 2)[..., None]
    high = (safe // 2)[..., None]
    median = (
        np.take_along_axis(sorted_values, low, axis=-1)[..., 0]
        + np.take_along_axis(sorted_values, high, axis=-1)[..., 0]
    ) / 2
    return np.where(counts > 0, median, np.nan)


def _median_mad(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, MAD and count of the values of each row of `windows` (NaN: no value)."""
    counts = np.sum(~np.isnan(windows), axis=-1)
    ordered = np.sort(windows, axis=-1)
    median = _sorted_median(ordered, counts)
    deviation = np.sort(np.abs(windows - median[..., None]), axis=-1)
    mad = _sorted_median(deviation, counts)
    return median, mad, counts


def days_since_previous_activity(grid: np.ndarray) -> np.ndarray:
    """Days between each day and the user's previous active day (NaN when there was none)."""
    n_days = grid.shape[1]
    active = ~np.isnan(grid)
    index = np.where(active, np.arange(n_days, dtype=np.float32)[None, :], np.nan)
    # Last active day strictly before d: forward-fill of the active-day index, shifted by one.
    filled = pd.DataFrame(index).ffill(axis=1).to_numpy(dtype=np.float32)
    previous = np.concatenate([np.full((grid.shape[0], 1), np.nan, np.float32), filled[:, :-1]], 1)
    return np.arange(n_days, dtype=np.float32)[None, :] - previous


def add_own_baselines(
    features: pd.DataFrame, columns: Sequence[str], *, window: int = 30, min_days: int = 5
) -> pd.DataFrame:
    """Add `<col>_own_median`, `<col>_own_ratio` and `<col>_own_z` for each column.

    The ratio divides by max(median, 1) so a first export after many zero days reads as
    "N exports" rather than infinity; rows with fewer than `min_days` active days in the window
    get NaN baselines (the model treats them as "no history", rules do not fire on them).
    The window is calendar days (every day of the range is a grid column), not rows.
    """
    out = features.copy()
    grid = Grid.of(out)
    rows, cols = grid.rows, grid.cols
    index = _window_index((grid.n_users, grid.n_days), window, (rows, cols))
    first_grid = None
    for column in columns:
        dense = grid.dense(out[column])
        first_grid = dense if first_grid is None else first_grid
        med, mad, counts = _median_mad(_left_padded(dense, window).ravel().take(index))
        spread = MAD_TO_SIGMA * mad
        enough = counts >= min_days
        value = out[column].to_numpy(dtype=np.float32)
        out[f"{column}_own_median"] = np.where(enough, med, np.nan)
        out[f"{column}_own_ratio"] = np.where(enough, value / np.maximum(med, 1.0), np.nan)
        # Spread floor of 1: a user who always does exactly 3 searches is not 10 sigma off at 4.
        out[f"{column}_own_z"] = np.where(enough, (value - med) / np.maximum(spread, 1.0), np.nan)
    if first_grid is not None:
        active = np.where(np.isnan(first_grid), np.nan, 1.0).astype(np.float32)
        windows = _left_padded(active, window).ravel().take(index)
        out["history_days"] = np.sum(~np.isnan(windows), axis=-1)
        out["days_since_previous"] = days_since_previous_activity(first_grid)[rows, cols]
    return out


def add_trailing_sums(frame: pd.DataFrame, columns: Sequence[str], *, days: int) -> pd.DataFrame:
    """Add `<col>_<days>d`: the sum over the user's last `days` calendar days, today included."""
    out = frame.copy()
    grid = Grid.of(out)
    for column in columns:
        dense = np.nan_to_num(grid.dense(out[column]))
        cumulative = np.cumsum(dense, axis=1)
        shifted = np.zeros_like(cumulative)
        if cumulative.shape[1] > days:
            shifted[:, days:] = cumulative[:, :-days]
        out[f"{column}_{days}d"] = (cumulative - shifted)[grid.rows, grid.cols]
    return out


def add_peer_baselines(
    features: pd.DataFrame,
    columns: Sequence[str],
    *,
    group_column: str = "peer_group",
    min_peers: int = 3,
) -> pd.DataFrame:
    """Add `<col>_peer_median` and `<col>_peer_ratio`: the day's median over the peer group,
    and, where `<col>_own_z` exists, `<col>_own_z_excess`: how much further the user is from
    their own baseline than their peers are from theirs that day.

    The excess is what makes collective oddities quiet: on an incident day every engineer
    searches 5x more than usual, so no single one stands out. Groups with fewer than
    `min_peers` active members that day are not adjusted (the user would be their own peer).
    """
    out = features.copy()
    keys = [out["day"], out[group_column]]
    grouped = out.groupby(keys, observed=True)
    medians = grouped[list(columns)].transform("median")
    for column in columns:
        med = medians[column].to_numpy(dtype=np.float32)
        out[f"{column}_peer_median"] = med
        out[f"{column}_peer_ratio"] = out[column].to_numpy(dtype=np.float32) / np.maximum(med, 1.0)
    z_columns = [f"{c}_own_z" for c in columns if f"{c}_own_z" in out]
    if z_columns:
        z_medians = grouped[z_columns].transform("median")
        z_counts = grouped[z_columns].transform("count")
        for column in z_columns:
            shift = np.where(
                z_counts[column].to_numpy() >= min_peers,
                np.nan_to_num(z_medians[column].to_numpy(dtype=np.float32)).clip(min=0),
                0.0,
            )
            out[f"{column}_excess"] = out[column].to_numpy(dtype=np.float32) - shift
    return out
