"""Reading roll files: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030, UTF-16) and workbooks
(XLSX, the old XLS, ODS).

``open_roll(path)`` gives a ``Roll``: its ``headers`` (the texts of the header row) and,
when iterated, ``(row_number, values)`` for every non-blank row after it, one at a time.
``row_number`` is the row as the spreadsheet shows it. Values are what the cells hold:
``str`` from a CSV; ``str``, ``int``, ``float``, ``bool``, ``date``/``datetime`` (date
cells) or ``None``/``''`` from a workbook. What a value means is for
``registry.imports.rows`` to say, which knows the columns: 20210305 is a date in one
column and a certificate number in another.

Rolls as bureaus publish them (名单公示) carry a title, 填报单位 and date lines above the
table, and workbooks often begin with an instructions sheet (填表说明). Given
``is_header`` (a test of a row's texts: does it name enough of the roll's columns?), the
header is the first row within the first ``HEADER_SEARCH`` rows that passes it, and a
workbook's roll is its first sheet that has such a row; everything above the header is
skipped. Without it, the first non-blank row of the first sheet is the header.

What cannot be read becomes an ``Unreadable`` value with a bilingual message, in place of
a cell (bytes that are not valid in the file's encoding) or of the whole row's values (a
broken quote), so that the row's error names the row and the import goes on to report
the rest. A file that cannot be read as a roll at all (a PDF, an image, a web page saved
as ``.xls``, a damaged workbook, no header row) raises ``UnusableFile`` from ``open_roll``.

The format is decided by content, not by the file name: XLSX and ODS are ZIP archives,
an ``.xls`` an OLE2 compound file; anything else that looks like text is read as CSV.
Many government systems export "Excel" files that are really tab-separated text (read)
or an HTML table (refused with advice). Workbooks are read with calamine
(``python-calamine``), which reads the three formats and is about ten times faster than
openpyxl; it holds the sheet's cells in memory, where a CSV is streamed.

Because a workbook is expanded in memory, it is refused before that when it could not
be a roll Excel made and would take more memory than the file's size suggests (a "zip
bomb": a 1 MB XLSX can hold a 1 GiB string). From the ZIP's central directory, before
any part is decompressed: a part larger than ``MAX_PART_BYTES`` once expanded, parts
larger than ``MAX_EXPANDED_BYTES`` together, or a part that expands more than
``MAX_RATIO`` times (what only a long run of one repeated byte does). Then, streaming
the part before calamine lays it out: an XLSX sheet whose grid (last row × last column)
is over ``MAX_GRID_CELLS``, an ODS whose repeated rows and cells make more than
``MAX_ODS_CELLS`` cells. Then, as Excel's own limits: a sheet of more than ``MAX_ROWS``
rows (before its rows are read) and a cell of ``MAX_CELL_CHARS`` characters or more (as
the rows are read; calamine cuts a longer XLSX cell there). Each raises
``UnusableFile`` naming the limit; nothing of the roll is written then.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

__all__ = [
    "UnusableFile",
    "NoHeader",
    "Unreadable",
    "Roll",
    "open_roll",
    "detect_encoding",
    "HEADER_SEARCH",
]

XLSX_SIGNATURE = b"PK\x03\x04"
OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, .doc, encrypted .xlsx
_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)

_CHUNK = 1 << 20  # bytes per read of the encoding check and of spooling an upload
_SNIFF = 8192  # bytes looked at to tell text from binary and HTML
HEADER_SEARCH = 30  # rows in which the header is looked for

# Excel's own limits (Excel specifications and limits): no workbook Excel saves is over.
MAX_ROWS = 1_048_576  # rows in a sheet
MAX_CELL_CHARS = 32_767  # characters in a cell
# A ZIP workbook's parts (XLSX, ODS), by their sizes in the central directory. A sheet of
# a million rows of a roll is about 400 MB of XML; its strings compress about ten times.
MAX_PART_BYTES = 768 * 1024 * 1024
MAX_EXPANDED_BYTES = 1536 * 1024 * 1024
MAX_RATIO = 200  # expanded / compressed, looked at for parts over RATIO_FROM bytes
RATIO_FROM = 16 * 1024 * 1024
# An ODS repeats a row or a cell by a count (table:number-rows-repeated …), which calamine
# writes out in memory: a 1 KB file could ask for a billion cells. Cells with content,
# repeats counted, in all of an ODS's sheets (a million rows of twenty columns).
MAX_ODS_CELLS = 20_000_000
# calamine holds a sheet as a full grid from its first cell to its last: an XLSX of two
# cells, A1 and XFD1000000, asks for 16 billion. The grid, last row × last column, of
# each sheet (a roll of a million rows is some ten columns wide).
MAX_GRID_CELLS = 50_000_000
_XLSX_ROW = re.compile(rb'<row\b[^>]*?\br="(\d+)"')
_XLSX_WIDE_CELL = re.compile(rb' r="([A-Z]{2,3})[0-9]')  # a cell of column AA and beyond

# Bytes that a decoder could not decode, kept by "surrogateescape" as U+DC80..U+DCFF.
_ESCAPED = re.compile("[\udc80-\udcff]+")
_HTML = re.compile(rb"\s*<(?:!doctype\s+html|html|table|\?xml)", re.IGNORECASE)


class UnusableFile(ValueError):
    """The file cannot be read as a roll at all.

    ``.message`` is bilingual, Chinese then English, ``.zh`` and ``.en`` hold the parts;
    ``.row`` is the row where reading broke off, when it did so in the middle.
    """

    def __init__(self, zh: str, en: str, *, row: int | None = None):
        self.zh, self.en, self.row = zh, en, row
        self.message = f"{zh}（{en}）"
        super().__init__(self.message)


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A cell, or a whole row's values, that could not be read: why, in Chinese (``zh``)
    and English (``en``); ``message`` joins them as every message of the registry."""

    zh: str
    en: str

    @property
    def message(self) -> str:
        return f"{self.zh}（{self.en}）"

    def __str__(self) -> str:
        return self.message


# --------------------------------------------------------------------------- sources


def _sniff(raw: IO[bytes]) -> bytes:
    start = raw.tell()
    head = raw.read(_SNIFF)
    raw.seek(start)
    return head


_NOT_A_ROLL_ADVICE = (
    "请在 Excel 中打开名册，另存为 .xlsx 或 CSV 后重新导入",
    "open the roll in Excel, save it as .xlsx or CSV and import that",
)
# Files handed in by mistake, by their first bytes: what they are, in Chinese and English.
_FOREIGN = (
    (b"%PDF", "PDF 文件", "a PDF document"),
    (b"\x89PNG", "PNG 图片", "a PNG image"),
    (b"\xff\xd8\xff", "JPEG 图片", "a JPEG image"),
    (b"GIF8", "GIF 图片", "a GIF image"),
    (b"BM", "BMP 图片", "a BMP image"),
    (b"II*\x00", "TIFF 图片", "a TIFF image"),
    (b"MM\x00*", "TIFF 图片", "a TIFF image"),
    (b"Rar!", "RAR 压缩包", "a RAR archive"),
    (b"7z\xbc\xaf", "7z 压缩包", "a 7z archive"),
)


def _not_a_roll(zh: str, en: str) -> UnusableFile:
    return UnusableFile(
        f"{zh}，不是名册表格；{_NOT_A_ROLL_ADVICE[0]}", f"{en}, not a roll; {_NOT_A_ROLL_ADVICE[1]}"
    )


def _kind(head: bytes) -> str:
    """'workbook' or 'csv' from the first bytes, or UnusableFile saying what the file is."""
    if not head:
        raise UnusableFile("文件为空", "the file is empty")
    if head.startswith((XLSX_SIGNATURE, OLE2_SIGNATURE)):
        return "workbook"
    for signature, zh, en in _FOREIGN:
        if head.startswith(signature) and (signature != b"BM" or b"\x00" in head[:64]):
            raise _not_a_roll(f"这是{zh}", f"this is {en}")
    if head.startswith(_UTF16_BOMS):
        return "csv"
    body = head[3:] if head.startswith(_UTF8_BOM) else head
    if _HTML.match(body):
        raise UnusableFile(
            "这是网页（HTML）或 XML 文件，不是 Excel 工作簿；请用 Excel 打开后另存为 .xlsx 或 CSV",
            "this is a web page (HTML) or XML file, not an Excel workbook; "
            "open it in Excel and save as .xlsx or CSV",
        )
    if b"\x00" in head:
        raise UnusableFile(
            "文件不是 CSV 或 Excel 工作簿（.xlsx、.xls、.ods），请在 Excel 中另存为 .xlsx 或 CSV",
            "the file is neither CSV nor a workbook (.xlsx, .xls, .ods); save it as .xlsx or CSV",
        )
    return "csv"


def detect_encoding(raw: IO[bytes]) -> str:
    """The encoding of a CSV read from ``raw``'s current position, which is kept.

    A BOM decides (UTF-8 or UTF-16); otherwise UTF-8 if the file decodes as UTF-8, checked
    in chunks with an incremental decoder so memory stays constant, or if it is plainly
    UTF-8 text damaged further on (its damaged cells are reported); otherwise GB18030, the
    superset of GBK in which Excel on a Chinese Windows saves "CSV".
    """
    return _detect(raw)[0]


# A file is still UTF-8, damaged, when its first undecodable byte comes after this many
# bytes of valid multi-byte sequences: GBK text is never valid UTF-8 for that long, and
# reading a damaged UTF-8 file as GB18030 would turn every name into plausible nonsense
# instead of one error on the damaged row.
_UTF8_EVIDENCE = 32


def _detect(raw: IO[bytes]) -> tuple[str, bool]:
    """detect_encoding(), and whether every byte is known to decode in that encoding."""
    start = raw.tell()
    try:
        head = raw.read(4)
        if head.startswith(_UTF8_BOM):
            return "utf-8-sig", False
        if head.startswith(_UTF16_BOMS):
            return "utf-16", False
        raw.seek(start)
        decoder = codecs.getincrementaldecoder("utf-8")()
        multibyte = 0  # bytes beyond the first of each multi-byte character decoded so far
        try:
            while chunk := raw.read(_CHUNK):
                multibyte += len(chunk) - len(decoder.decode(chunk))
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            good = exc.object[: exc.start]
            multibyte += len(good) - len(good.decode("utf-8", errors="ignore"))
            return ("utf-8" if multibyte >= _UTF8_EVIDENCE else "gb18030"), False
        return "utf-8", True
    finally:
        raw.seek(start)


def _check_encoding(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise UnusableFile(
            f"未知的字符编码'{name}'，可用 utf-8、utf-8-sig、gbk、gb18030",
            f"unknown encoding '{name}'; use utf-8, utf-8-sig, gbk or gb18030",
        ) from None


def _escaped_bytes(text: str) -> str:
    escaped = _ESCAPED.search(text)
    shown = " ".join(f"0x{ord(c) - 0xDC00:02X}" for c in escaped.group()[:4])
    return shown + (" …" if len(escaped.group()) > 4 else "")


def _undecodable(text: str, encoding: str) -> Unreadable:
    shown = _escaped_bytes(text)
    return Unreadable(
        f"含有无法按 {encoding} 解码的字节 {shown}，文件可能是其他编码；"
        "请另存为“CSV UTF-8”或 .xlsx 后重新导入",
        f"contains bytes {shown} that are not valid {encoding}; the file may be in another "
        'encoding: save it as "CSV UTF-8" or .xlsx and import again',
    )


def _clean(text: str) -> str:
    """Undecodable bytes as U+FFFD, for texts that must be shown (headers)."""
    return _ESCAPED.sub("\ufffd", text)


# ----------------------------------------------------------------------------- Roll


class NoHeader(UnusableFile):
    """No row within the first ``HEADER_SEARCH`` names the roll's columns."""


class Roll:
    """An open roll file: ``headers``, and an iterator of ``(row_number, values)``.

    ``values`` is a list (as long as the row is, which may be shorter or longer than
    ``headers``), or an ``Unreadable`` when the row as a whole could not be read. Blank
    rows (every cell empty or spaces) are skipped; numbering counts them, as the
    spreadsheet does. Each iteration starts again after the header; do not interleave two.

    Use it as a context manager, or call ``close()``: a workbook and a spooled upload
    hold a file open.

    ``format`` is ``'csv'``, ``'xlsx'``, ``'xls'`` or ``'ods'``; ``encoding`` the CSV's
    encoding and ``delimiter`` its separator (None for a workbook); ``sheet`` the
    worksheet read (None for CSV); ``header_row`` the row the headers came from.
    """

    def __init__(
        self,
        records,
        closers: list,
        *,
        format: str,
        encoding: str | None = None,
        delimiter: str | None = None,
        sheet: str | None = None,
        is_header=None,
    ):
        # ``records()`` yields (row_number, values) for every row of the file, blank ones
        # too; called again, it starts over.
        self._records = records
        self._closers = closers
        self._measure = None  # () -> (done, total): bytes of a CSV, rows of a sheet
        self.row = 0  # the row last yielded
        self.format, self.encoding, self.delimiter, self.sheet = format, encoding, delimiter, sheet
        self._pending = None
        try:
            self._read_header(is_header)
        except BaseException:
            self.close()
            raise

    def _read_header(self, is_header) -> None:
        records = self._records()
        self._pending = records
        for number, values in records:
            if is_header is not None and number > HEADER_SEARCH:
                break
            if isinstance(values, Unreadable):
                if is_header is not None:
                    continue  # a title line may be broken; the header comes later
                raise UnusableFile(
                    f"第{number}行（表头）无法读取：{values.zh}",
                    f"row {number} (the header) cannot be read: {values.en}",
                    row=number,
                )
            if _blank(values):
                continue
            if is_header is not None and not is_header([_header_text(v) for v in values]):
                continue
            if any(v.__class__ is Unreadable for v in values):
                raise UnusableFile(
                    f"第{number}行（表头）无法按 {self.encoding} 解码，请指定文件的字符编码，"
                    "或另存为“CSV UTF-8”或 .xlsx",
                    f"row {number} (the header) cannot be decoded as {self.encoding}; name "
                    'the file\'s encoding, or save it as "CSV UTF-8" or .xlsx',
                    row=number,
                )
            self.header_row: int = number
            self.headers: list[str] = [_header_text(v) for v in values]
            return
        if is_header is None:
            raise UnusableFile(
                "文件中没有表头行，没有任何内容", "the file has no header row: it is empty"
            )
        raise NoHeader(
            f"前{HEADER_SEARCH}行中没有名册的表头（至少三列，如 姓名、身份证号码、证书名称、"
            "证书编号），这不是证书名册；请确认文件和工作表，或在 Excel 中另存为 .xlsx 或 CSV",
            f"none of the first {HEADER_SEARCH} rows is a roll's header (three columns or more "
            "such as 姓名, 身份证号码, 证书名称, 证书编号): this is not a roll of certificates; "
            "check the file and the sheet, or save it from Excel as .xlsx or CSV",
        )

    def __iter__(self) -> Iterator[tuple[int, list | Unreadable]]:
        records, self._pending = self._pending, None
        if records is None:
            records = self._records()
            for number, _ in records:
                if number == self.header_row:
                    break
        for number, values in records:
            if values.__class__ is Unreadable or not _blank(values):
                self.row = number
                yield number, values

    def read(self) -> float:
        """How much of the file the iteration has read, from 0 to 1 (for a progress bar):
        of a CSV's bytes, of a sheet's rows."""
        if self._measure is None:
            return 0.0
        done, total = self._measure()
        return min(1.0, done / total) if total > 0 else 1.0

    def close(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.close()
        closers = self._closers[::-1]
        self._closers.clear()  # open_roll's list too, so nothing is closed twice
        for close in closers:
            close()

    def __enter__(self) -> Roll:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Roll {self.format} {len(self.headers)} columns>"


def _blank(values) -> bool:
    for v in values:
        if v is not None and (v.__class__ is not str or v.strip()):
            return False
    return True


def _header_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ------------------------------------------------------------------------------ CSV


def _delimiter(raw: IO[bytes], encoding: str) -> str:
    """',' unless the first line has none and has tabs (Excel's "Unicode text", many
    "xls" exports) or semicolons (CSV from a European-locale Excel)."""
    start = raw.tell()
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    line = decoder.decode(raw.readline(64 * 1024))
    raw.seek(start)
    if "," in line:
        return ","
    for candidate in "\t;":
        if candidate in line:
            return candidate
    return ","


def _csv_roll(raw: IO[bytes], encoding: str | None, closers: list, owned: bool, is_header) -> Roll:
    start = raw.tell()
    if encoding is None:
        encoding, checked = _detect(raw)
    else:
        encoding = _check_encoding(encoding)
        checked = False
        if encoding == "utf-8" and raw.read(3) == _UTF8_BOM:
            encoding = "utf-8-sig"
        raw.seek(start)
    delimiter = _delimiter(raw, encoding)
    size = raw.seek(0, os.SEEK_END)
    raw.seek(start)
    text = io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="")
    # Closing the wrapper closes the binary file, which is the caller's when it was handed
    # in as a file object: that one is only detached.
    closers.append(text.close if owned else text.detach)
    beginning = text.tell()

    def records():
        text.seek(beginning)
        return _csv_records(text, delimiter, encoding, checked)

    roll = Roll(
        records,
        closers,
        format="csv",
        encoding=encoding,
        delimiter=delimiter,
        is_header=is_header,
    )
    # The binary file's position runs ahead of the rows by the wrapper's buffer (8 KiB).
    roll._measure = lambda: (raw.tell() - start, size - start)
    return roll


def _csv_records(text: IO[str], delimiter: str, encoding: str, checked: bool):
    reader = csv.reader(text, delimiter=delimiter, strict=True)
    number = 0
    while True:
        number += 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            message = str(exc)
            if message.startswith(("unexpected end of data", "field larger than")):
                # A quote opened and never closed swallowed the rest of the file.
                yield (
                    number,
                    Unreadable(
                        "本行有一个引号未闭合，其后的所有行都被读进了同一个单元格，无法继续读取",
                        "a quote opened in this row is never closed: every line after it was "
                        "read into one cell, so the rest of the file cannot be read",
                    ),
                )
                return
            yield (
                number,
                Unreadable(
                    f"本行引号使用有误（{message}），单元格中的引号应写成两个引号",
                    f"a quote in this row is malformed ({message}); a quote inside a cell "
                    "must be doubled",
                ),
            )
            continue
        if not checked and _ESCAPED.search("".join(row)):  # one scan of the row, in C
            row = [
                _undecodable(v, encoding) if not v.isascii() and _ESCAPED.search(v) else v
                for v in row
            ]
        yield number, row


# ------------------------------------------------------------------------ workbooks


def _workbook_format(raw: IO[bytes]) -> str:
    """'xlsx', 'ods' or 'xls' from the file's content."""
    start = raw.tell()
    try:
        if raw.read(len(OLE2_SIGNATURE)) == OLE2_SIGNATURE:
            return "xls"
        raw.seek(start)
        try:
            with zipfile.ZipFile(raw) as archive:
                names = set(archive.namelist())
                parts = archive.infolist()
                mimetype = archive.read("mimetype")[:100] if "mimetype" in names else b""
        except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError) as exc:
            raise _damaged_zip(exc) from exc
        _check_parts(parts)
        if b"opendocument.spreadsheet" in mimetype:
            return "ods"
        if "xl/workbook.xml" in names or "xl/workbook.bin" in names:
            return "xlsx"
        if mimetype.startswith(b"application/vnd.oasis.opendocument"):
            raise _not_a_roll("这是 OpenDocument 文字或演示文档", "this is an OpenDocument text")
        if "word/document.xml" in names:
            raise _not_a_roll("这是 Word 文档", "this is a Word document")
        raise _damaged_zip(None)
    finally:
        raw.seek(start)


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):,.0f} MiB"


def _check_parts(parts: list[zipfile.ZipInfo]) -> None:
    """UnusableFile for a ZIP whose parts would expand beyond the limits, judged from the
    sizes its central directory gives, before any of them is decompressed."""
    advice = (
        "这不是 Excel 保存的名册；请在 Excel 中打开、另存为 .xlsx 或 CSV 后重新导入",
        "this is not a roll as Excel saves it; open it in Excel, save it as .xlsx or CSV "
        "and import that",
    )
    total = 0
    for part in parts:
        total += part.file_size
        if part.file_size > MAX_PART_BYTES:
            raise UnusableFile(
                f"工作簿的部件 {part.filename} 解压后有 {_mib(part.file_size)}，超过上限 "
                f"{_mib(MAX_PART_BYTES)}，未读取；{advice[0]}",
                f"the workbook's part {part.filename} expands to {_mib(part.file_size)}, over "
                f"the limit of {_mib(MAX_PART_BYTES)}; not read: {advice[1]}",
            )
        if part.file_size > RATIO_FROM and part.file_size > MAX_RATIO * max(part.compress_size, 1):
            ratio = part.file_size // max(part.compress_size, 1)
            raise UnusableFile(
                f"工作簿的部件 {part.filename} 压缩了 {ratio:,} 倍（解压后 "
                f"{_mib(part.file_size)}），超过 {MAX_RATIO} 倍的上限，是压缩炸弹，未读取；"
                f"{advice[0]}",
                f"the workbook's part {part.filename} is compressed {ratio:,} times (it "
                f"expands to {_mib(part.file_size)}), over the limit of {MAX_RATIO}: a zip "
                f"bomb, not read: {advice[1]}",
            )
    if total > MAX_EXPANDED_BYTES:
        raise UnusableFile(
            f"工作簿解压后共有 {_mib(total)}，超过上限 {_mib(MAX_EXPANDED_BYTES)}，未读取；"
            f"{advice[0]}",
            f"the workbook expands to {_mib(total)} in all, over the limit of "
            f"{_mib(MAX_EXPANDED_BYTES)}; not read: {advice[1]}",
        )


_ODS_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_ODS_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"


def _check_ods_repeats(raw: IO[bytes]) -> None:
    """UnusableFile for an ODS whose repeated rows and cells would make more than
    ``MAX_ODS_CELLS`` cells with content, or a sheet of more than ``MAX_ROWS`` rows with
    content, counted by streaming its content.xml (already known not to be too large)
    before calamine expands it. Repeated empty cells, the blank rest of a sheet that
    LibreOffice writes as one repeated row, cost nothing and are not counted."""
    from xml.etree.ElementTree import ParseError, iterparse

    start = raw.tell()
    table, row, cell = (f"{_ODS_TABLE}{tag}" for tag in ("table", "table-row", "table-cell"))
    rows_repeated = f"{_ODS_TABLE}number-rows-repeated"
    columns_repeated = f"{_ODS_TABLE}number-columns-repeated"
    cells = in_row = rows = 0
    sheet = ""
    try:
        with zipfile.ZipFile(raw) as archive, archive.open("content.xml") as content:
            # expat (2.4 and later) refuses entity expansion bombs and never fetches
            # external entities; the parts it reads are already known to be small enough.
            for event, element in iterparse(content, events=("start", "end")):  # noqa: S314
                if event == "start":
                    if element.tag == table:
                        sheet, rows = element.get(f"{_ODS_TABLE}name") or "", 0
                elif element.tag == cell:
                    if len(element) or element.get(f"{_ODS_OFFICE}value-type"):
                        in_row += int(element.get(columns_repeated) or 1)
                elif element.tag == row:
                    times = int(element.get(rows_repeated) or 1)
                    rows += times
                    if in_row:
                        cells += in_row * times
                        if cells > MAX_ODS_CELLS:
                            raise _too_many_cells()
                        if rows > MAX_ROWS:
                            raise _too_many_rows(sheet, rows)
                    in_row = 0
                    element.clear()  # constant memory: the rows read are dropped
    except UnusableFile:
        raise
    except (KeyError, ParseError, ValueError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise _damaged_zip(exc) from exc
    finally:
        raw.seek(start)


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def _check_xlsx_grids(raw: IO[bytes]) -> None:
    """UnusableFile for an XLSX sheet whose grid (its last row times its last column)
    is over ``MAX_GRID_CELLS``, found by scanning the sheet's XML as a stream for the
    rows' numbers and the references of cells beyond column Z, before calamine lays the
    grid out."""
    start = raw.tell()
    try:
        with zipfile.ZipFile(raw) as archive:
            for part in archive.infolist():
                if not part.filename.startswith("xl/worksheets/"):
                    continue
                last_row, last_column = 0, 26
                with archive.open(part) as sheet:
                    tail = b""
                    while chunk := sheet.read(_CHUNK):
                        text = tail + chunk
                        # Rows come in order: the chunk's last one is the furthest yet.
                        if (at := text.rfind(b"<row ")) >= 0 and (
                            found := _XLSX_ROW.match(text, at)
                        ):
                            last_row = max(last_row, int(found.group(1)))
                        for letters in set(_XLSX_WIDE_CELL.findall(text)):
                            last_column = max(last_column, _column_number(letters))
                        tail = text[-64:]  # a tag cut by the chunk's end is read again
                if last_row * last_column > MAX_GRID_CELLS:
                    raise UnusableFile(
                        f"工作簿的工作表 {part.filename} 有 {last_row:,} 行、{last_column:,} 列，"
                        f"展开后超过 {MAX_GRID_CELLS:,} 个单元格，未读取；请删除表格之外的单元格，"
                        "或另存为 CSV 后重新导入",
                        f"the workbook's sheet {part.filename} has {last_row:,} rows and "
                        f"{last_column:,} columns, more than {MAX_GRID_CELLS:,} cells laid out; "
                        "not read: delete the cells outside the table, or save it as CSV",
                    )
    except UnusableFile:
        raise
    except (KeyError, ValueError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise _damaged_zip(exc) from exc
    finally:
        raw.seek(start)


def _too_many_cells() -> UnusableFile:
    return UnusableFile(
        f"工作簿的重复行和单元格展开后超过 {MAX_ODS_CELLS:,} 个有内容的单元格，未读取；"
        "请在 Excel 中另存为 .xlsx 或 CSV 后重新导入",
        f"the workbook's repeated rows and cells expand to more than {MAX_ODS_CELLS:,} "
        "cells with content; not read: save it as .xlsx or CSV and import that",
    )


def _too_many_rows(name: str, rows: int) -> UnusableFile:
    return UnusableFile(
        f"工作表'{name}'有 {rows:,} 行，超过 Excel 的上限 {MAX_ROWS:,} 行，未读取；"
        "请把名册分成几个文件导入",
        f"the sheet '{name}' has {rows:,} rows, over Excel's limit of {MAX_ROWS:,}; not "
        "read: split the roll into several files",
    )


def _long_cells(name: str, rows):
    """``rows`` numbered from 1, refusing a cell as long as Excel allows or longer: no
    roll's cell comes near it, and one such string alone can hold gigabytes. calamine
    cuts a longer XLSX cell at the limit, so reaching it is all that can be seen there."""
    for number, values in enumerate(rows, start=1):
        for column, value in enumerate(values, start=1):
            if value.__class__ is str and len(value) >= MAX_CELL_CHARS:
                raise _long_cell(name, number, column, len(value))
        yield number, values


def _long_cell(name: str, row: int, column: int, length: int) -> UnusableFile:
    where_zh = f"工作表'{name}'第{row}行第{column}列的单元格有 {length:,} 个字符，"
    where_en = f"the cell in row {row}, column {column} of the sheet '{name}' holds {length:,}"
    if length > MAX_CELL_CHARS:
        zh = f"超过 Excel 单元格的上限 {MAX_CELL_CHARS:,} 个"
        en = f"characters, over Excel's limit of {MAX_CELL_CHARS:,}"
    else:
        zh = f"达到 Excel 单元格的上限 {MAX_CELL_CHARS:,} 个（更长的内容读取时被截断至此）"
        en = f"characters, Excel's limit of {MAX_CELL_CHARS:,} (longer contents are cut there)"
    return UnusableFile(
        f"{where_zh}{zh}，未导入；请检查该单元格",
        f"{where_en} {en}; nothing imported: check that cell",
        row=row,
    )


def _damaged_zip(exc) -> UnusableFile:
    what = f": {type(exc).__name__}" if exc is not None else ""
    return UnusableFile(
        "文件是 ZIP 压缩包但不是可读取的工作簿（.xlsx、.ods；也可能是 .numbers 或文件已损坏）；"
        "请在 Excel 中另存为 .xlsx 或 CSV",
        "the file is a ZIP archive but not a readable workbook (.xlsx, .ods; .numbers, or "
        f"damaged{what}); save it as .xlsx or CSV",
    )


def _workbook_roll(raw: IO[bytes], sheet: str | None, closers: list, is_header) -> Roll:
    # Imported here: CSV imports do not pay for it.
    from python_calamine import CalamineError, CalamineWorkbook, PasswordError, SheetTypeEnum

    format = _workbook_format(raw)
    if format == "ods":
        _check_ods_repeats(raw)
    elif format == "xlsx":
        _check_xlsx_grids(raw)
    try:
        book = CalamineWorkbook.from_filelike(raw)
    except PasswordError as exc:
        raise UnusableFile(
            "工作簿设置了打开密码，无法读取；请在 Excel 中取消密码后另存为 .xlsx 或 CSV",
            "the workbook is protected by a password; remove it in Excel and save as .xlsx or CSV",
        ) from exc
    except (CalamineError, ValueError, OSError, EOFError) as exc:
        if format == "xls":
            raise UnusableFile(
                "文件是 Office 旧格式但不是可读取的 .xls 工作簿（Word 文档、设置了密码的工作簿"
                "或文件已损坏）；请在 Excel 中另存为 .xlsx 或 CSV（不设密码）",
                "the file is an old Office file but not a readable .xls workbook (a Word "
                f"document, a password-protected workbook, or damaged: {exc}); save it as "
                ".xlsx or CSV without a password",
            ) from exc
        raise _damaged_zip(exc) from exc
    closers.append(book.close)
    names = list(book.sheet_names)
    if not names:
        raise UnusableFile("工作簿中没有工作表", "the workbook has no worksheet")
    charts = {m.name for m in book.sheets_metadata if m.typ not in (SheetTypeEnum.WorkSheet, None)}

    def open_sheet(name: str) -> Roll:
        try:
            ws = book.get_sheet_by_name(name)
        except (CalamineError, ValueError, OSError, EOFError) as exc:
            raise UnusableFile(
                f"工作表'{name}'已损坏，无法读取", f"the sheet '{name}' is damaged: {exc}"
            ) from exc

        last = (ws.end or (0, 0))[0] + 1
        if last > MAX_ROWS:
            raise _too_many_rows(name, last)

        def records():
            # calamine gives every row from the sheet's first, empty cells as ''.
            yield from _long_cells(name, ws.iter_rows())

        # A sheet without a header closes nothing: the next one is tried in the same book.
        roll = Roll(records, [], format=format, sheet=name, is_header=is_header)
        roll._closers = closers
        roll._measure = lambda: (roll.row, last)
        return roll

    if sheet is not None:
        name = _find_sheet(sheet, names)
        if name in charts:
            raise UnusableFile(
                f"'{name}'是图表，不是工作表", f"'{name}' is a chart sheet, not a worksheet"
            )
        return open_sheet(name)
    candidates = [n for n in names if n not in charts]
    if is_header is None:
        return open_sheet(candidates[0] if candidates else names[0])
    for name in candidates:
        try:
            # An instructions sheet (填表说明) before the roll has no header: passed over.
            return open_sheet(name)
        except NoHeader:
            continue
    raise NoHeader(
        f"工作簿的工作表（{'、'.join(names)}）中都没有名册的表头（至少三列，如 姓名、身份证号码、"
        "证书名称、证书编号），这不是证书名册；请确认文件，或用 --sheet 指定工作表",
        f"none of the workbook's sheets ({', '.join(names)}) has a roll's header (three "
        "columns or more such as 姓名, 身份证号码, 证书名称, 证书编号): this is not a roll of "
        "certificates; check the file, or name the sheet with --sheet",
    )


def _find_sheet(sheet: str, names: list[str]) -> str:
    if sheet in names:
        return sheet
    wanted = sheet.strip().casefold()
    matches = [n for n in names if n.strip().casefold() == wanted]
    if len(matches) != 1:
        listed = "、".join(names)
        raise UnusableFile(
            f"工作簿中没有名为'{sheet}'的工作表，现有：{listed}",
            f"the workbook has no sheet named '{sheet}'; its sheets: {', '.join(names)}",
        )
    return matches[0]


# -------------------------------------------------------------------------- open_roll


def check_file(path: str | os.PathLike) -> None:
    """What a request can tell of a file before it hands it to a background import: a
    file that is no roll, and a workbook over its limits (from the zip's directory and
    a streamed scan of its sheets, never expanding them), raise ``UnusableFile``."""
    with open(path, "rb") as raw:
        if _kind(_sniff(raw)) == "workbook":
            format = _workbook_format(raw)
            if format == "ods":
                _check_ods_repeats(raw)
            elif format == "xlsx":
                _check_xlsx_grids(raw)


def open_roll(
    source: str | os.PathLike | IO[bytes],
    *,
    encoding: str | None = None,
    sheet: str | None = None,
    is_header=None,
) -> Roll:
    """Open a roll: a path, or a binary file object such as an upload's stream.

    A file object is read from its current position and never closed by the Roll: the
    caller keeps it. One that cannot seek (a socket, a pipe) is first copied, in chunks,
    to a temporary file that the Roll deletes on close. ``encoding`` forces the CSV's
    encoding (detected otherwise); ``sheet`` names the worksheet (otherwise the first
    with a header). ``is_header(texts)`` tells a header row (see the module's docstring).
    Raises ``UnusableFile`` if the file cannot be read as a roll.
    """
    closers: list = []
    try:
        if isinstance(source, str | os.PathLike):
            try:
                raw = open(source, "rb")  # the Roll closes it
            except FileNotFoundError:
                raise UnusableFile(
                    f"文件不存在：{os.fspath(source)}", f"no such file: {os.fspath(source)}"
                ) from None
            except IsADirectoryError:
                raise UnusableFile(
                    f"这是一个目录，不是文件：{os.fspath(source)}",
                    f"this is a directory, not a file: {os.fspath(source)}",
                ) from None
            closers.append(raw.close)
        elif _seekable(source):
            raw = source
        else:
            raw = tempfile.TemporaryFile()  # the Roll closes it, which deletes it
            closers.append(raw.close)
            shutil.copyfileobj(source, raw, _CHUNK)
            raw.seek(0)
        kind = _kind(_sniff(raw))
        if kind == "workbook":
            return _workbook_roll(raw, sheet, closers, is_header)
        return _csv_roll(raw, encoding, closers, raw is not source, is_header)
    except BaseException:
        for close in reversed(closers):
            close()
        raise


def _seekable(f) -> bool:
    try:
        return f.seekable()
    except (AttributeError, ValueError):
        return False
