"""What an import did: counts of what was copied, and what was skipped and why."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class ImportReport:
    """Counts of copied items by kind (`runs`, `metric_points`...), skipped items by
    (kind, reason), and errors (each one item that could not be copied)."""

    source: str = ""
    copied: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, kind: str, count: int = 1) -> None:
        if count:
            with self._lock:
                self.copied[kind] += count

    def skip(self, kind: str, reason: str, count: int = 1) -> None:
        if count:
            with self._lock:
                self.skipped[(kind, reason)] += count

    def error(self, message: str) -> None:
        with self._lock:
            self.errors.append(message)

    @property
    def copied_anything(self) -> bool:
        return any(self.copied.values())

    def as_dict(self) -> dict:
        return {
            "source": self.source,
            "copied": dict(sorted(self.copied.items())),
            "skipped": [
                {"kind": kind, "reason": reason, "count": count}
                for (kind, reason), count in sorted(self.skipped.items())
            ],
            "errors": list(self.errors),
            "seconds": round(self.seconds, 3),
        }

    def as_text(self) -> str:
        lines = [f"Imported from {self.source} in {self.seconds:.1f} s."]
        if self.copied_anything:
            lines.append("Copied:")
            lines += [f"  {kind}: {count}" for kind, count in sorted(self.copied.items())]
        else:
            lines.append("Copied nothing.")
        if self.skipped:
            lines.append("Skipped:")
            lines += [
                f"  {kind}: {count} ({reason})"
                for (kind, reason), count in sorted(self.skipped.items())
            ]
        if self.errors:
            lines.append(f"Errors ({len(self.errors)}):")
            lines += [f"  {e}" for e in self.errors]
        return "\n".join(lines)
