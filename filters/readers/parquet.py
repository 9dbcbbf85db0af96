"""Parquet files, read a row group at a time; row groups wholly before the range are not decoded."""

from __future__ import annotations

from typing import Iterator

from ..document import TOO_LARGE, Document
from .base import Reader, derived_id
from .jsonl import record_to_document

_BATCH_ROWS = 1024


class ParquetReader(Reader):
    """One row per record. Ordinals are row indices; `source` is {"file", "offset": row index}."""

    name = "parquet_reader"

    def read(self) -> Iterator[Document]:
        import pyarrow.parquet as pq

        path = self.source.path
        next_ordinal = self.start  # where a damaged file's quarantine record goes
        try:
            parquet = pq.ParquetFile(path)
            first_row = 0
            for group in range(parquet.metadata.num_row_groups):
                rows_in_group = parquet.metadata.row_group(group).num_rows
                if first_row + rows_in_group <= self.start:
                    first_row += rows_in_group
                    continue
                if self.past_end(first_row):
                    return
                next_ordinal = max(first_row, self.start)
                table = parquet.read_row_group(group)
                for offset in range(0, table.num_rows, _BATCH_ROWS):
                    rows = table.slice(offset, _BATCH_ROWS).to_pylist()
                    for index, row in enumerate(rows):
                        ordinal = first_row + offset + index
                        if self.wanted(ordinal):
                            next_ordinal = ordinal + 1
                            yield self._document(row, ordinal)
                        elif self.past_end(ordinal):
                            return
                first_row += rows_in_group
        except Exception as error:  # pyarrow raises several types for a damaged file
            yield self.unreadable(next_ordinal, {"file": path, "offset": next_ordinal}, error)

    def _document(self, row: dict, ordinal: int) -> Document:
        source = {"file": self.source.path, "offset": ordinal}
        text = row.get(self.options.text_field)
        limit = self.options.max_bytes
        # A UTF-8 character is at most 4 bytes: only texts near the limit need encoding to measure.
        if isinstance(text, (str, bytes)) and len(text) * (4 if isinstance(text, str) else 1) > limit:
            encoded = text.encode("utf-8", errors="surrogatepass") if isinstance(text, str) else text
            if len(encoded) > limit:
                head = encoded[:4096]
                doc = Document(ordinal=ordinal, source=source, id=derived_id(self.source.name, ordinal, head))
                return doc.send_to_quarantine(TOO_LARGE, f"text longer than {limit} bytes", raw=head)
        raw = None  # built lazily: a JSON dump of every row would cost more than the row itself
        doc = record_to_document(row, ordinal, source, self.options, self.source.name, raw)
        if doc.is_quarantined and doc.raw is None:
            doc.raw = repr({k: v for k, v in row.items()})[:4096]
        return doc
