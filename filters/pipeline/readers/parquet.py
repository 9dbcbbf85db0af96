"""Parquet files, read a row group at a time; row groups wholly before the range are not decoded."""

from __future__ import annotations

import os
from typing import Iterator

from filters.document import TOO_LARGE, Document
from filters.pipeline.readers.base import BrokenInput, Reader, derived_id
from filters.pipeline.readers.jsonl import record_to_document

_BATCH_ROWS = 1024


class ParquetReader(Reader):
    """One row per record. Ordinals are row indices; `source` is {"file", "offset": row index}.

    A file that cannot be opened (cut short, overwritten, not Parquet: its index is at its end) or a row
    group that does not decode yields the rows read so far and one `unreadable_file` document at the
    first row not read, whose detail names the row group and its byte range in the file.
    """

    name = "parquet_reader"

    def read(self) -> Iterator[Document]:
        import pyarrow.parquet as pq

        path = self.source.path
        next_ordinal = self.start  # where a damaged file's quarantine record goes
        where = "its footer (Parquet keeps its index in the file's last bytes)"
        try:
            where = (f"its footer (Parquet keeps its index in the file's last bytes; the file is "
                     f"{os.path.getsize(path)} bytes long)")
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
                where = _row_group_place(parquet.metadata, group, first_row)
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
        except Exception as error:  # noqa: BLE001 - pyarrow raises several types for a damaged file
            message = " ".join(str(error).split())  # pyarrow's messages span lines
            problem = BrokenInput(f"{where} cannot be read: {type(error).__name__}: {message}")
            yield self.unreadable(next_ordinal, {"file": path, "offset": next_ordinal}, problem)

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


def _row_group_place(metadata, group: int, first_row: int) -> str:
    """"row group G (rows A-B, file bytes X-Y)", from the footer's column chunk offsets when it has them."""
    row_group = metadata.row_group(group)
    text = f"row group {group} (rows {first_row}-{first_row + row_group.num_rows - 1}"
    try:
        starts, ends = [], []
        for column in range(row_group.num_columns):
            chunk = row_group.column(column)
            start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
            starts.append(start)
            ends.append(start + chunk.total_compressed_size)
        if starts:
            text += f", file bytes {min(starts)}-{max(ends)}"
    except Exception:  # noqa: BLE001 - a damaged footer can hold anything; the rows alone will do
        pass
    return text + ")"
