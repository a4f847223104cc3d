"""Figures as the report shows them: a median with its spread, markdown tables."""

import statistics
from dataclasses import dataclass


@dataclass
class Spread:
    """The median of several measurements, with their min and max."""

    median: float
    low: float
    high: float
    count: int

    @classmethod
    def of(cls, values) -> "Spread":
        values = list(values)
        return cls(statistics.median(values), min(values), max(values), len(values))

    def fmt(self, scale: float = 1.0, digits: int = 1, unit: str = "") -> str:
        def num(value):
            return f"{value * scale:.{digits}f}"

        if self.count == 1:
            return f"{num(self.median)}{unit}"
        return f"{num(self.median)}{unit} ({num(self.low)}-{num(self.high)})"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines + [""]
