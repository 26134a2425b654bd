"""Local ISO-8601 times of a day's items, in the shop's time zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


class Stamps:
    """Local ISO-8601 times, remembered per second (a day has 86,400 of them: bounded)."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._seen: dict[int, str] = {}
        self._hour = -1
        self._offset_s = 0
        self._suffix = ""

    def iso(self, ts_ms: int) -> str:
        second = ts_ms // 1000
        text = self._seen.get(second)
        if text is None:
            if len(self._seen) > 200_000:
                self._seen.clear()
            text = self._seen[second] = self._format(second)
        return text

    def _format(self, second: int) -> str:
        hour = second // 3600
        if hour != self._hour:  # the offset can change on the hour (DST)
            local = datetime.fromtimestamp(hour * 3600, self.tz)
            self._hour = hour
            self._offset_s = int((local.utcoffset() or timedelta(0)).total_seconds())
            self._suffix = local.isoformat()[19:]
        return (_EPOCH + timedelta(seconds=second + self._offset_s)).isoformat() + self._suffix


_EPOCH = datetime(1970, 1, 1)
