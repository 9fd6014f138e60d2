"""The vital-sign series store: one small interface, three backends."""

from .base import DailyRow, SeriesPoint, SeriesStore, daily_statistics, series_points

__all__ = ["DailyRow", "SeriesPoint", "SeriesStore", "daily_statistics", "series_points"]
