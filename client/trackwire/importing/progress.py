"""The import's progress bar (rich, when installed and stderr is a terminal)."""

from __future__ import annotations


class Progress:
    """Counts finished runs (and the registry, as one step) against `total`; shows a bar
    on stderr with the points copied so far, or nothing when `show` is false."""

    def __init__(self, total: int, show: bool, report):
        self.total = total
        self.report = report
        self._bar = None
        if show:
            try:
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    TextColumn,
                    TimeElapsedColumn,
                )
                from rich.progress import Progress as RichProgress
            except ImportError:  # rich is the `import` extra: without it, no bar
                return
            self._bar = RichProgress(
                TextColumn("importing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[points]} points"),
                TimeElapsedColumn(),
                transient=False,
            )

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.start()
            self._task = self._bar.add_task("import", total=self.total, points=0)
        return self

    def advance(self, what: str, count: int) -> None:
        if self._bar is not None:
            points = self.report.copied.get("metric points", 0)
            self._bar.update(self._task, advance=count, points=points)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()
