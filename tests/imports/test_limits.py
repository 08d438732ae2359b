"""Workbooks over the limits are refused before they are expanded: a "zip bomb" (a 1 MB
XLSX holding a 1 GiB string), a part too large, a sheet with more rows than Excel
allows, a cell longer than Excel allows. From the reader, the command and the API:
exit 2 / 422 `unusable_file`, a message naming the limit, nothing written."""

import io
import resource
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
import sqlalchemy as sa

from registry.credentials.models import Certificate
from registry.imports import readers
from registry.imports.models import ImportBatch
from registry.imports.readers import MAX_CELL_CHARS, MAX_ROWS, UnusableFile, open_roll
from registry.people.models import Person
from tests.imports.test_services import HEADERS, good_rows, write_xlsx
from tests.imports.test_views import upload

GIB = 1 << 30
MIB = 1 << 20


def _deflated(data: bytes, final: bool) -> bytes:
    # A fresh compressor for each piece: its back-references stay inside it, so pieces
    # flushed at a byte boundary can be laid one after another as one deflate stream.
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(
        zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH
    )


def _zip(parts: list[tuple[str, list[tuple[bytes, int]]]]) -> bytes:
    """A ZIP archive written by hand: each part a list of (text, times repeated), its
    deflated form made once per distinct text, so a gigabyte costs milliseconds."""
    body, directory = io.BytesIO(), io.BytesIO()
    for name, pieces in parts:
        crc, size, compressed = 0, 0, []
        for i, (text, times) in enumerate(pieces):
            deflated = _deflated(text, final=i == len(pieces) - 1)
            compressed.append(deflated * times)
            size += len(text) * times
            for _ in range(times):
                crc = zlib.crc32(text, crc)
        data = b"".join(compressed)
        encoded = name.encode()
        offset = body.tell()
        fields = (20, 0, 8, 0, 0x21, crc, len(data), size, len(encoded))
        body.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", *fields, 0) + encoded + data)
        directory.write(
            struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, 0, offset) + encoded
        )
    count, start = len(parts), body.tell()
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, directory.tell(), start, 0)
    return body.getvalue() + directory.getvalue() + end


def _workbook_with(tmp_path, part: str, pieces) -> bytes:
    """A real roll's XLSX (made by openpyxl) whose ``part`` is replaced by ``pieces``."""
    made = write_xlsx(tmp_path / "made.xlsx", good_rows(3))
    with zipfile.ZipFile(made) as source:
        parts = [(i.filename, [(source.read(i), 1)]) for i in source.infolist()]
    return _zip([(name, pieces if name == part else p) for name, p in parts])


SHEET = "xl/worksheets/sheet1.xml"


def _long_string(tmp_path, mebibytes: int) -> bytes:
    """A real roll's XLSX whose sheet has one more row, holding a string of ``mebibytes``
    MiB of one letter (openpyxl writes strings inline, in the sheet)."""
    with zipfile.ZipFile(write_xlsx(tmp_path / "made.xlsx", good_rows(3))) as source:
        sheet = source.read(SHEET)
    head, _, tail = sheet.partition(b"</sheetData>")
    pieces = [
        (head + b'<row r="5"><c r="A5" t="inlineStr"><is><t>', 1),
        (b"A" * MIB, mebibytes),
        (b"</t></is></c></row></sheetData>" + tail, 1),
    ]
    return _workbook_with(tmp_path, SHEET, pieces)


def _bomb(tmp_path) -> bytes:
    """About 1 MB of XLSX whose sheet holds one string of 1 GiB."""
    return _long_string(tmp_path, 1024)


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    path = tmp_path_factory.mktemp("bomb") / "名册.xlsx"
    path.write_bytes(_bomb(path.parent))
    return path


def test_the_bomb_is_what_it_says(bomb):
    assert bomb.stat().st_size < 2 * MIB
    with zipfile.ZipFile(bomb) as archive:
        part = archive.getinfo(SHEET)
        assert part.file_size > GIB
        with archive.open(part) as strings:  # it does expand, as a reader would find
            assert strings.read(MIB).count(b"A") > MIB // 2


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def test_a_zip_bomb_is_refused_from_its_directory_in_bounded_memory(bomb):
    before = _peak_rss()
    with pytest.raises(UnusableFile) as caught:
        open_roll(bomb)
    # Expanding the string would take a gigabyte at least (2.4 to 3.8 GB in calamine).
    assert _peak_rss() - before < 256 * MIB
    assert caught.value.zh.startswith("工作簿的部件 xl/worksheets/sheet1.xml 解压后有 1,024 MiB")
    assert "over the limit of 768 MiB" in caught.value.en


def test_a_highly_compressed_part_under_the_size_limit_is_refused(tmp_path):
    path = tmp_path / "roll.xlsx"
    path.write_bytes(_long_string(tmp_path, 20))
    with pytest.raises(UnusableFile) as caught:
        open_roll(path)
    assert "压缩炸弹" in caught.value.zh and "a zip bomb" in caught.value.en
    assert SHEET in caught.value.message


def test_parts_too_large_together_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(readers, "MAX_EXPANDED_BYTES", 10_000)
    path = write_xlsx(tmp_path / "roll.xlsx", good_rows(300))
    with pytest.raises(UnusableFile) as caught:
        open_roll(path)
    assert caught.value.zh.startswith("工作簿解压后共有")


def test_a_real_workbook_is_within_the_limits(tmp_path):
    with open_roll(write_xlsx(tmp_path / "roll.xlsx", good_rows(300))) as roll:
        assert sum(1 for _ in roll) == 300


def test_a_cell_longer_than_excel_allows_is_refused_naming_it(tmp_path):
    rows = good_rows(3)
    rows[1][0] = "张" * (MAX_CELL_CHARS + 1)
    with open_roll(write_xlsx(tmp_path / "roll.xlsx", rows)) as roll:
        with pytest.raises(UnusableFile) as caught:
            list(roll)
    assert caught.value.row == 3
    assert caught.value.zh == (
        "工作表'Sheet'第3行第1列的单元格有 32,767 个字符，达到 Excel 单元格的上限 32,767 个"
        "（更长的内容读取时被截断至此），未导入；请检查该单元格"
    )


def test_a_cell_just_under_excels_limit_is_read(tmp_path):
    rows = good_rows(3)
    rows[1][0] = "张" * (MAX_CELL_CHARS - 1)
    with open_roll(write_xlsx(tmp_path / "roll.xlsx", rows)) as roll:
        assert [len(values[0]) for _, values in roll] == [2, MAX_CELL_CHARS - 1, 2]


def _ods(rows, repeated: tuple[bytes, int] | None = None) -> bytes:
    """An OpenDocument spreadsheet of ``rows`` of texts (ODS is a ZIP too), whose last
    cell may be followed by one holding ``repeated`` (a text, times repeated)."""
    namespaces = " ".join(
        f'xmlns:{n}="urn:oasis:names:tc:opendocument:xmlns:{n}:1.0"'
        for n in ("office", "table", "text")
    )

    def cell(text):
        return (
            '<table:table-cell office:value-type="string">'
            f"<text:p>{text}</text:p></table:table-cell>"
        )

    table = "".join(
        "<table:table-row>" + "".join(cell(v) for v in r) + "</table:table-row>" for r in rows
    )
    head = (
        f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {namespaces} '
        'office:version="1.2"><office:body><office:spreadsheet><table:table table:name="名册">'
        + table
    ).encode()
    tail = b"</table:table></office:spreadsheet></office:body></office:document-content>"
    pieces = [(head, 1), (tail, 1)]
    if repeated is not None:
        start = b'<table:table-row><table:table-cell office:value-type="string"><text:p>'
        end = b"</text:p></table:table-cell></table:table-row>"
        pieces = [(head + start, 1), repeated, (end + tail, 1)]
    mimetype = b"application/vnd.oasis.opendocument.spreadsheet"
    manifest = (
        b'<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
        b'"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        b'<manifest:file-entry manifest:full-path="/" manifest:media-type="' + mimetype + b'"/>'
        b'<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        b"</manifest:manifest>"
    )
    return _zip(
        [
            ("mimetype", [(mimetype, 1)]),
            ("META-INF/manifest.xml", [(manifest, 1)]),
            ("content.xml", pieces),
        ]
    )


def test_an_ods_bomb_is_refused_and_a_long_ods_cell_named(tmp_path):
    path = tmp_path / "roll.ods"
    path.write_bytes(_ods([HEADERS, *good_rows(3)], repeated=(b"A" * MIB, 1024)))
    with pytest.raises(UnusableFile) as caught:
        open_roll(path)
    assert caught.value.zh.startswith("工作簿的部件 content.xml 解压后有 1,024 MiB")

    rows = good_rows(3)
    rows[1][0] = "张" * 40_000  # calamine reads an ODS cell whole
    path.write_bytes(_ods([HEADERS, *rows]))
    with open_roll(path) as roll:
        assert roll.format == "ods"
        with pytest.raises(UnusableFile) as caught:
            list(roll)
    assert caught.value.zh.startswith(
        "工作表'名册'第3行第1列的单元格有 40,000 个字符，超过 Excel 单元格的上限 32,767 个，"
    )


def _with_repeats(rows: int, columns: int) -> bytes:
    """A roll's ODS and one more row: a cell with content repeated ``columns`` times, the
    row ``rows`` times, as a few bytes of XML (calamine writes every one out)."""
    with zipfile.ZipFile(io.BytesIO(_ods([HEADERS, *good_rows(3)]))) as source:
        parts = {i.filename: source.read(i) for i in source.infolist()}
    repeated = (
        f'<table:table-row table:number-rows-repeated="{rows}">'
        '<table:table-cell office:value-type="string" '
        f'table:number-columns-repeated="{columns}"><text:p>x</text:p></table:table-cell>'
        "</table:table-row>"
    )
    parts["content.xml"] = parts["content.xml"].replace(
        b"</table:table>", repeated.encode() + b"</table:table>"
    )
    return _zip([(name, [(data, 1)]) for name, data in parts.items()])


def test_ods_repeats_are_counted_before_they_are_expanded(tmp_path):
    path = tmp_path / "roll.ods"
    path.write_bytes(_with_repeats(1_000_000, 50))  # 50 million cells in about a kilobyte
    assert path.stat().st_size < 4096
    before = _peak_rss()
    with pytest.raises(UnusableFile) as caught:
        open_roll(path)
    assert _peak_rss() - before < 64 * MIB  # calamine took more than 2.5 GB, then died
    assert caught.value.zh.startswith(
        "工作簿的重复行和单元格展开后超过 20,000,000 个有内容的单元格"
    )

    path.write_bytes(_with_repeats(MAX_ROWS, 1))
    with pytest.raises(UnusableFile) as caught:
        open_roll(path)
    assert caught.value.zh.startswith("工作表'名册'有 1,048,580 行，超过 Excel 的上限")

    path.write_bytes(_with_repeats(1000, 3))  # repeats within the limits are read
    with open_roll(path) as roll:
        assert sum(1 for _ in roll) == 1003


def test_a_sheet_with_more_rows_than_excel_allows_is_refused(tmp_path):
    made = write_xlsx(tmp_path / "made.xlsx", good_rows(3))
    with zipfile.ZipFile(made) as source:
        sheet = source.read("xl/worksheets/sheet1.xml")
    # One more row, beyond Excel's last, which only a program writing XML by hand makes.
    beyond = (
        f'<row r="{MAX_ROWS + 1}"><c r="A{MAX_ROWS + 1}" t="inlineStr"><is><t>x</t></is></c></row>'
    )
    sheet = sheet.replace(b"</sheetData>", beyond.encode() + b"</sheetData>")
    sheet = sheet.replace(b'<dimension ref="A1:H4" />', b"")
    path = tmp_path / "roll.xlsx"
    path.write_bytes(_workbook_with(tmp_path, "xl/worksheets/sheet1.xml", [(sheet, 1)]))
    with pytest.raises(UnusableFile) as caught:
        open_roll(path)
    assert caught.value.zh.startswith(
        "工作表'Sheet'有 1,048,577 行，超过 Excel 的上限 1,048,576 行"
    )


def _with_a_far_cell(tmp_path, reference: str) -> Path:
    """A roll's XLSX with one more cell, at ``reference``: far away, the grid is huge."""
    with zipfile.ZipFile(write_xlsx(tmp_path / "made.xlsx", good_rows(3))) as source:
        sheet = source.read(SHEET)
    row = reference.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    far = f'<row r="{row}"><c r="{reference}" t="inlineStr"><is><t>x</t></is></c></row>'
    sheet = sheet.replace(b"</sheetData>", far.encode() + b"</sheetData>")
    path = tmp_path / "roll.xlsx"
    path.write_bytes(_workbook_with(tmp_path, SHEET, [(sheet, 1)]))
    return path


def test_a_sheet_whose_grid_is_too_large_is_refused_before_it_is_laid_out(tmp_path):
    path = _with_a_far_cell(tmp_path, "XFD1000000")  # 16 billion cells in a kilobyte
    before = _peak_rss()
    with pytest.raises(UnusableFile) as caught:
        open_roll(path)
    assert _peak_rss() - before < 64 * MIB  # calamine took more than 3 GB, then died
    assert caught.value.zh.startswith(
        "工作簿的工作表 xl/worksheets/sheet1.xml 有 1,000,000 行、16,384 列，展开后超过"
    )
    with open_roll(_with_a_far_cell(tmp_path, "AB1000")) as roll:  # a grid within limits
        assert [number for number, _ in roll] == [2, 3, 4, 1000]


def _nothing_written(session) -> None:
    for model in (ImportBatch, Person, Certificate):
        assert session.scalar(sa.select(sa.func.count()).select_from(model)) == 0


def test_the_command_refuses_the_bomb_exit_2(run, session, bomb):
    result = run("import-roll", str(bomb))
    assert result.exit_code == 2
    assert "错误 Error: 工作簿的部件 xl/worksheets/sheet1.xml 解压后有 1,024 MiB" in result.output
    assert "Traceback" not in result.output
    _nothing_written(session)


def test_the_command_refuses_a_long_cell_exit_2(run, session, tmp_path):
    rows = good_rows(3)
    rows[2][5] = "局" * 40_000
    result = run("import-roll", str(write_xlsx(tmp_path / "roll.xlsx", rows)))
    assert result.exit_code == 2
    assert "第4行第6列的单元格有 32,767 个字符，达到 Excel 单元格的上限" in result.output
    _nothing_written(session)


def test_the_api_refuses_a_bomb_422(client, session, make_user, tmp_path):
    # 100 MiB in 100 kB: answered when read (a larger file is a background job, whose
    # failure tests/imports/test_api_jobs.py reads).
    path = tmp_path / "名册.xlsx"
    path.write_bytes(_long_string(tmp_path, 100))
    _, headers = make_user("hr")
    response = upload(client, headers, path)
    assert response.status_code == 422
    assert response.json["code"] == "unusable_file"
    assert response.json["message"].startswith("工作簿的部件 xl/worksheets/sheet1.xml 压缩了 1,0")
    assert "a zip bomb" in response.json["message"]
    _nothing_written(session)
