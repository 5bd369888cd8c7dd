"""Row counts and schemas of tabular files, for ``dvx diff --stats`` (SPEC §8).

The only pyarrow importer. pyarrow is an optional extra (``dvx[table]``) and a
large import, so it is imported inside functions: importing this module is cheap
and works without it; :func:`require` turns its absence into a usage error.

Only metadata-sized work is done where the format allows it: Parquet row counts
and schemas come from the footer; Arrow IPC files are memory-mapped and only
their batch headers are read. CSV has no metadata, so it is streamed once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dvx.errors import UsageError

# Lower-case suffix → format name.
FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
    ".arrow": "arrow",
    ".feather": "arrow",
    ".ipc": "arrow",
}

# The bytes of one version: a local file (workspace or cache object) or a git blob.
Source = Path | bytes


def table_format(path: str) -> str | None:
    """The table format of a path, from its suffix, or None for other files."""
    dot = path.rfind(".")
    if dot < 0 or "/" in path[dot:]:
        return None
    return FORMATS.get(path[dot:].lower())


def require() -> None:
    """Fail with a usage error (exit 2) naming the extra when pyarrow is missing."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise UsageError(
            "--stats needs pyarrow, which is not installed",
            hint="pip install 'dvx[table]'",
        ) from None


@dataclass(frozen=True)
class TableInfo:
    rows: int
    columns: tuple[tuple[str, str], ...]  # (name, arrow type), in file order


@dataclass
class TableDiff:
    """Row counts and schema changes of one tabular path between two versions.

    A side is None when the path does not exist there (added or deleted) or its
    bytes could not be read; ``errors`` says which and why.
    """

    format: str
    old: TableInfo | None = None
    new: TableInfo | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def columns_added(self) -> list[tuple[str, str]]:
        if self.old is None or self.new is None:
            return []
        before = dict(self.old.columns)
        return [(n, t) for n, t in self.new.columns if n not in before]

    @property
    def columns_removed(self) -> list[tuple[str, str]]:
        if self.old is None or self.new is None:
            return []
        after = dict(self.new.columns)
        return [(n, t) for n, t in self.old.columns if n not in after]

    @property
    def columns_changed(self) -> list[tuple[str, str, str]]:
        """(name, old type, new type) of columns present on both sides."""
        if self.old is None or self.new is None:
            return []
        before = dict(self.old.columns)
        return [(n, before[n], t) for n, t in self.new.columns if n in before and before[n] != t]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "rows": {
                "old": None if self.old is None else self.old.rows,
                "new": None if self.new is None else self.new.rows,
            },
            "columns": {
                "added": [{"name": n, "type": t} for n, t in self.columns_added],
                "removed": [{"name": n, "type": t} for n, t in self.columns_removed],
                "changed": [{"name": n, "old": o, "new": t} for n, o, t in self.columns_changed],
            },
            "errors": self.errors,
        }


def read_info(source: Source, fmt: str) -> TableInfo:
    """Row count and schema of one version. Raises ValueError with a readable reason."""
    import pyarrow as pa

    try:
        if fmt == "parquet":
            return _parquet(source)
        if fmt in ("csv", "tsv"):
            return _csv(source, "\t" if fmt == "tsv" else ",")
        return _arrow(source)
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"not readable as {fmt}: {exc}") from None


def _schema(schema: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(f.name), str(f.type)) for f in schema)


def _input(source: Source) -> Any:
    import pyarrow as pa

    if isinstance(source, bytes):
        return pa.BufferReader(source)
    # A memory map lets pyarrow read only the parts it needs of a large file.
    return pa.memory_map(str(source))


def _parquet(source: Source) -> TableInfo:
    import pyarrow.parquet as pq

    f = pq.ParquetFile(_input(source))
    return TableInfo(f.metadata.num_rows, _schema(f.schema_arrow))


def _csv(source: Source, delimiter: str) -> TableInfo:
    import pyarrow.csv as pcsv

    reader = pcsv.open_csv(_input(source), parse_options=pcsv.ParseOptions(delimiter=delimiter))
    rows = sum(batch.num_rows for batch in reader)
    return TableInfo(rows, _schema(reader.schema))


def _arrow(source: Source) -> TableInfo:
    import pyarrow as pa

    # Feather v2 is the IPC file format; the IPC stream format has no footer.
    try:
        f = pa.ipc.open_file(_input(source))
    except pa.ArrowInvalid:
        stream = pa.ipc.open_stream(_input(source))
        return TableInfo(sum(b.num_rows for b in stream), _schema(stream.schema))
    rows = sum(f.get_batch(i).num_rows for i in range(f.num_record_batches))
    return TableInfo(rows, _schema(f.schema))


def compare(fmt: str, old: Source | None, new: Source | None) -> TableDiff:
    """Stats of both sides; a side given as None does not exist there."""
    result = TableDiff(fmt)
    for side, source in (("old", old), ("new", new)):
        if source is None:
            continue
        try:
            info = read_info(source, fmt)
        except ValueError as exc:
            result.errors.append(f"{side} version {exc}")
            continue
        setattr(result, side, info)
    return result


def read_table(source: Source, path: str, **kwargs: Any) -> Any:
    """A whole table (``pyarrow.Table``) by the path's suffix, for ``dvx.api.read_table``.

    ``kwargs`` go to pyarrow's reader (e.g. ``columns=[...]`` for Parquet).
    """
    fmt = table_format(path)
    if fmt is None:
        raise UsageError(
            f"'{path}': not a table file (by its extension)",
            hint="read_table knows " + ", ".join(sorted(FORMATS)),
        )
    require()
    if fmt == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(_input(source), **kwargs)
    if fmt in ("csv", "tsv"):
        import pyarrow.csv as pcsv

        if fmt == "tsv":
            kwargs.setdefault("parse_options", pcsv.ParseOptions(delimiter="\t"))
        return pcsv.read_csv(_input(source), **kwargs)
    import pyarrow as pa

    try:
        return pa.ipc.open_file(_input(source)).read_all()
    except pa.ArrowInvalid:
        return pa.ipc.open_stream(_input(source)).read_all()
