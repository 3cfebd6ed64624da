"""The one error every batch-file reader and writer raises."""

from __future__ import annotations

__all__ = ["FormatError"]


class FormatError(ValueError):
    """A batch file that does not follow its format, or a batch a format cannot carry.

    `line` is 1-based. For fixed-width formats `column` .. `end_column` are the 1-based, inclusive
    positions as the standard prints them; for CSV `column` is the 1-based field number. Reading
    errors name `filename`; writing errors have no file and name the entry in `field`.
    """

    def __init__(
        self,
        reason: str,
        *,
        filename: str | None,
        line: int | None = None,
        column: int | None = None,
        end_column: int | None = None,
        field: str | None = None,
        csv: bool = False,
    ) -> None:
        self.reason = reason
        self.filename = filename
        self.line = line
        self.column = column
        self.end_column = end_column
        self.field = field
        where = [filename] if filename else []
        if line is not None:
            where.append(f"line {line}")
        place = " ".join(where)
        if column is not None:
            if csv:
                place += f", column {column}"
            elif end_column is not None and end_column != column:
                place += f", positions {column}-{end_column}"
            else:
                place += f", position {column}"
        if field is not None:
            place += f" ({field})" if place else field
        super().__init__(f"{place}: {reason}" if place else reason)
