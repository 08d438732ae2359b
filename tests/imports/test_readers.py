"""Reading roll files written here for real: CSV in every encoding Excel produces, XLSX
written with openpyxl, and the files a clerk hands in by mistake. No database."""

import codecs
import io
import os
import zipfile
from datetime import date, datetime

import pytest
from openpyxl import Workbook

from registry.imports.readers import Unreadable, UnusableFile, detect_encoding, open_roll

HEADERS = ["姓名", "身份证号", "证书名称", "等级", "证书编号", "发证机构", "发证日期", "有效期至"]
ROW = ["王芳", "11010519491231002X", "保育师", "四级", "2021001", "杭州市人社局", "2021-03-05", ""]


def write_csv(path, lines, encoding="utf-8"):
    path.write_bytes("".join(f"{line}\r\n" for line in lines).encode(encoding))
    return path


def read(roll):
    return [(number, values) for number, values in roll]


def open_fds(path) -> int:
    target = os.path.realpath(path)
    fds = "/proc/self/fd"
    count = 0
    for fd in os.listdir(fds):
        try:
            count += os.path.realpath(os.path.join(fds, fd)) == target
        except OSError:
            pass
    return count


# ------------------------------------------------------------------------ encodings


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("gbk", "gb18030"),
        ("gb18030", "gb18030"),
        ("utf-16", "utf-16"),
    ],
)
def test_csv_encodings_are_detected(tmp_path, encoding, detected):
    path = write_csv(tmp_path / "roll.csv", [",".join(HEADERS), ",".join(ROW)], encoding)
    with open_roll(path) as roll:
        assert roll.format == "csv"
        assert roll.encoding == detected
        assert roll.headers == HEADERS
        assert read(roll) == [(2, ROW)]


def test_gb18030_characters_outside_gbk(tmp_path):
    # 㐀 (CJK extension A) and 𠀀 (extension B, four bytes) exist in GB18030, not in GBK.
    names = ["张㐀", "李𠀀"]
    lines = [",".join(HEADERS)] + [",".join([n, *ROW[1:]]) for n in names]
    path = write_csv(tmp_path / "roll.csv", lines, "gb18030")
    with pytest.raises(UnicodeEncodeError):
        names[0].encode("gbk")
    with open_roll(path) as roll:
        assert roll.encoding == "gb18030"
        assert [values[0] for _, values in roll] == names


def test_encoding_can_be_forced(tmp_path):
    path = write_csv(tmp_path / "roll.csv", [",".join(HEADERS), ",".join(ROW)], "gbk")
    with open_roll(path, encoding="GBK") as roll:
        assert roll.encoding == "gbk"
        assert read(roll) == [(2, ROW)]


def test_forced_utf8_reads_a_bom(tmp_path):
    path = write_csv(tmp_path / "roll.csv", [",".join(HEADERS)], "utf-8-sig")
    with open_roll(path, encoding="utf-8") as roll:
        assert roll.headers[0] == "姓名"


def test_unknown_encoding_is_unusable(tmp_path):
    path = write_csv(tmp_path / "roll.csv", [",".join(HEADERS)])
    with pytest.raises(UnusableFile, match="unknown encoding 'klingon'"):
        open_roll(path, encoding="klingon")


def test_a_header_in_the_wrong_forced_encoding_is_unusable(tmp_path):
    path = write_csv(tmp_path / "roll.csv", [",".join(HEADERS), ",".join(ROW)], "gbk")
    with pytest.raises(UnusableFile, match="cannot be decoded as utf-8") as caught:
        open_roll(path, encoding="utf-8")
    assert caught.value.row == 1


def test_undecodable_bytes_become_an_error_of_their_cell(tmp_path):
    # An ASCII header, a GBK row in a file read as UTF-8: the row's Chinese cells are
    # reported, the file goes on.
    header = "name,id_number,certificate,certificate_no,issuer,issued_on"
    good = "Wang,11010519491231002X,childcare_worker,1,HZ,2021-03-05"
    bad = "王芳,11010519491231002X,保育师,2,HZ,2021-03-05".encode("gbk")
    data = f"{header}\n{good}\n".encode() + bad + f"\n{good}\n".encode()
    path = tmp_path / "roll.csv"
    path.write_bytes(data)
    with open_roll(path, encoding="utf-8") as roll:
        rows = read(roll)
    assert [n for n, _ in rows] == [2, 3, 4]
    bad_values = rows[1][1]
    assert isinstance(bad_values[0], Unreadable)
    assert "0xCD 0xF5" in bad_values[0].message and "utf-8" in bad_values[0].message
    assert isinstance(bad_values[2], Unreadable)
    assert bad_values[1] == "11010519491231002X"


def test_damaged_utf8_stays_utf8(tmp_path):
    # A UTF-8 roll with one stray byte: reading it all as GB18030 would turn every name
    # into nonsense; it is read as UTF-8 and the damaged cell is reported.
    lines = [",".join(HEADERS)] + [",".join(ROW)] * 3
    data = "".join(f"{line}\n" for line in lines).encode()
    data = data.replace("杭州市人社局".encode(), b"\xff" + "人社局".encode(), 1)
    path = tmp_path / "roll.csv"
    path.write_bytes(data)
    assert detect_encoding(io.BytesIO(data)) == "utf-8"
    with open_roll(path) as roll:
        rows = read(roll)
    assert isinstance(rows[0][1][5], Unreadable)
    assert rows[1][1] == ROW and rows[2][1] == ROW


def test_detection_reads_the_whole_file_in_chunks(tmp_path):
    # The first non-UTF-8 byte is far beyond the first chunk (1 MiB).
    lines = ["name,id_number,x"] + [",".join(["Wang", *ROW[1:2], "x"])] * 60_000
    data = "\n".join(lines).encode("gbk") + "\n张三,1\n".encode("gbk")
    assert len(data) > 1024 * 1024
    buffer = io.BytesIO(data)
    buffer.seek(0)
    assert detect_encoding(buffer) == "gb18030"
    assert buffer.tell() == 0


# ------------------------------------------------------------------------- CSV shape


def test_quoted_commas_and_newlines_count_as_one_row(tmp_path):
    lines = [
        ",".join([*HEADERS, "备注"]),
        ",".join(ROW) + ',"第一行,有逗号\n第二行"',
        '"李,四",' + ",".join(ROW[1:]) + ',"他说""好"""',
    ]
    path = write_csv(tmp_path / "roll.csv", lines, "utf-8-sig")
    with open_roll(path) as roll:
        rows = read(roll)
    assert [n for n, _ in rows] == [2, 3]  # as Excel shows it: one row per record
    assert rows[0][1][-1] == "第一行,有逗号\n第二行"
    assert rows[1][1][0] == "李,四"
    assert rows[1][1][-1] == '他说"好"'


def test_blank_rows_are_skipped_and_numbering_kept(tmp_path):
    lines = [
        "",
        ",".join(HEADERS),
        ",".join(ROW),
        "",
        ",,,,,,,",
        " , ,\u3000, ,,,,",
        ",".join(ROW),
    ]
    path = write_csv(tmp_path / "roll.csv", lines, "gbk")
    with open_roll(path) as roll:
        assert roll.header_row == 2
        assert roll.headers == HEADERS
        assert [n for n, _ in roll] == [3, 7]


@pytest.mark.parametrize("delimiter", ["\t", ";"])
def test_tab_and_semicolon_separated(tmp_path, delimiter):
    lines = [delimiter.join(HEADERS), delimiter.join(["王芳,小", *ROW[1:]])]
    path = write_csv(tmp_path / "roll.xls", lines, "utf-16")  # a text "xls" export
    with open_roll(path) as roll:
        assert roll.delimiter == delimiter
        assert read(roll) == [(2, ["王芳,小", *ROW[1:]])]


def test_short_and_long_rows_are_kept_as_they_are(tmp_path):
    path = write_csv(tmp_path / "roll.csv", ["a,b,c", "1", "1,2,3,4"])
    with open_roll(path) as roll:
        assert read(roll) == [(2, ["1"]), (3, ["1", "2", "3", "4"])]


def test_a_malformed_quote_spoils_its_row_only(tmp_path):
    path = write_csv(tmp_path / "roll.csv", ["a,b", '1,"x"y', "2,z"])
    with open_roll(path) as roll:
        rows = read(roll)
    assert rows[0][0] == 2 and isinstance(rows[0][1], Unreadable)
    assert "quote" in rows[0][1].message
    assert rows[1] == (3, ["2", "z"])


def test_an_unclosed_quote_is_reported_on_its_row(tmp_path):
    path = write_csv(tmp_path / "roll.csv", ["a,b", "1,2", '3,"x', "4,5", "6,7"])
    with open_roll(path) as roll:
        rows = read(roll)
    assert rows[0] == (2, ["1", "2"])
    assert rows[1][0] == 3 and isinstance(rows[1][1], Unreadable)
    assert "never closed" in rows[1][1].message
    assert len(rows) == 2


def test_iterating_again_starts_over(tmp_path):
    path = write_csv(tmp_path / "roll.csv", [",".join(HEADERS), ",".join(ROW), ",".join(ROW)])
    with open_roll(path) as roll:
        first = next(iter(roll))
        assert read(roll) == [(2, ROW), (3, ROW)]
        assert read(roll) == [(2, ROW), (3, ROW)]
    assert first == (2, ROW)


# ----------------------------------------------------------------------- file objects


def test_a_binary_file_object_is_read_and_left_open(tmp_path):
    data = "\n".join([",".join(HEADERS), ",".join(ROW)]).encode("gbk")
    upload = io.BytesIO(b"junk" + data)
    upload.seek(4)  # read from where the caller is
    with open_roll(upload) as roll:
        assert roll.encoding == "gb18030"
        assert read(roll) == [(2, ROW)]
    assert not upload.closed


@pytest.mark.parametrize("data", [b"\r\n ,\r\n", "姓名,证件号码\n".encode("gbk")])
def test_an_unusable_file_object_is_left_open(data):
    upload = io.BytesIO(data)
    with pytest.raises(UnusableFile):
        open_roll(upload, encoding="utf-8")
    assert not upload.closed  # detached, not closed
    upload.seek(0)
    assert upload.read() == data


class Pipe(io.RawIOBase):
    """A stream that cannot seek, like a socket."""

    def __init__(self, data: bytes):
        self._data = io.BytesIO(data)

    def readable(self):
        return True

    def readinto(self, buffer):
        chunk = self._data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_an_unseekable_stream_is_spooled(tmp_path):
    data = "\n".join([",".join(HEADERS), ",".join(ROW)]).encode("utf-8-sig")
    pipe = Pipe(data)
    assert not pipe.seekable()
    with open_roll(pipe) as roll:
        assert roll.encoding == "utf-8-sig"
        assert read(roll) == [(2, ROW)]
    assert not pipe.closed


def test_an_xlsx_upload_as_file_object(tmp_path):
    path = write_xlsx(tmp_path / "roll.xlsx", [HEADERS, ROW])
    upload = io.BytesIO(path.read_bytes())
    with open_roll(upload) as roll:
        assert roll.format == "xlsx"
        assert read(roll) == [(2, [*ROW[:7], ""])]
    assert not upload.closed


# ----------------------------------------------------------------------------- XLSX


def write_xlsx(path, rows, title="名册", more_sheets=()):
    book = Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(row)
    for name in more_sheets:
        book.create_sheet(name).append(["other"])
    book.save(path)
    return path


def test_xlsx_values_as_the_cells_give_them(tmp_path):
    headers = ["Certificate No", "ID number", " Name ", "Certificate", "Issued on", "Issuer"]
    rows = [
        headers,
        [20210001, "11010519491231002X", "王芳", "保育师", datetime(2021, 3, 5), "人社局"],
        None,  # a blank row
        [None, None, " ", None, None, None],
        ["A-7", 1.10105194912310e17, "李四", "育婴员", "2021年3月5日", "人社局"],
    ]
    path = write_xlsx(tmp_path / "roll.xlsx", [r or [] for r in rows])
    with open_roll(path) as roll:
        assert roll.sheet == "名册"
        assert roll.encoding is None
        assert roll.headers == headers
        got = read(roll)
    assert [n for n, _ in got] == [2, 5]  # blank rows skipped, numbered as Excel shows
    assert got[0][1] == [20210001, *rows[1][1:4], date(2021, 3, 5), "人社局"]
    assert got[0][1][0] == 20210001 and type(got[0][1][4]) is date  # a date cell
    assert type(got[1][1][1]) is float  # rows.py refuses it: digits were lost


def test_xlsx_sheet_by_name_and_unknown_sheet(tmp_path):
    path = write_xlsx(tmp_path / "roll.xlsx", [["a"], ["1"]], more_sheets=["第二页"])
    book_rows = []
    with open_roll(path, sheet="第二页") as roll:
        assert roll.sheet == "第二页" and roll.headers == ["other"]
        book_rows = read(roll)
    assert book_rows == []
    with pytest.raises(UnusableFile, match="名册, 第二页"):
        open_roll(path, sheet="Sheet9")


def test_xlsx_is_closed_after_use(tmp_path):
    path = write_xlsx(tmp_path / "roll.xlsx", [HEADERS, ROW, ROW])
    before = open_fds(path)
    with open_roll(path) as roll:
        next(iter(roll))  # stop half-way
        assert open_fds(path) > before
    assert open_fds(path) == before


def test_csv_is_closed_after_use(tmp_path):
    path = write_csv(tmp_path / "roll.csv", [",".join(HEADERS), ",".join(ROW)])
    with open_roll(path):
        assert open_fds(path) == 1
    assert open_fds(path) == 0


def test_xlsx_with_a_wrong_dimension_is_read_whole(tmp_path):
    # Some programs write <dimension ref="A1"/> whatever the sheet holds.
    path = write_xlsx(tmp_path / "made.xlsx", [HEADERS, ROW, ROW, ROW])
    fixed = tmp_path / "roll.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(fixed, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.startswith("xl/worksheets/"):
                data = data.replace(b'<dimension ref="A1:H4" />', b'<dimension ref="A1" />')
                assert b'<dimension ref="A1" />' in data
            target.writestr(item, data)
    with open_roll(fixed) as roll:
        assert roll.headers == HEADERS
        assert [n for n, _ in roll] == [2, 3, 4]


def test_workbooks_with_extensions_and_no_default_style_are_read(tmp_path):
    # Workbooks from Excel and WPS often carry a data-validation extension and no default
    # style (openpyxl warned about both; pytest turns warnings into errors).
    path = write_xlsx(tmp_path / "made.xlsx", [HEADERS, ROW])
    noisy = tmp_path / "roll.xlsx"
    extension = (
        b'<extLst><ext uri="{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}"><x14:dataValidations '
        b'xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main" '
        b'count="0"/></ext></extLst></worksheet>'
    )
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(noisy, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/styles.xml":
                start, end = data.index(b"<cellStyles"), data.index(b"</cellStyles>")
                data = data[:start] + data[end + len(b"</cellStyles>") :]
            if item.filename.startswith("xl/worksheets/"):
                data = data.replace(b"</worksheet>", extension)
            target.writestr(item, data)
    with open_roll(noisy) as roll:
        assert read(roll) == [(2, [*ROW[:7], ""])]


# ------------------------------------------------------------------ unusable files


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("roll.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600, "not a readable .xls"),
        ("roll.csv", b"", "the file is empty"),
        ("roll.xlsx", b"PK\x03\x04 not really a zip", "ZIP archive but not a readable workbook"),
        ("roll.xls", b"<html><table><tr><td>1</td></tr></table></html>", "web page"),
        ("roll.csv", codecs.BOM_UTF8 + b'<?xml version="1.0"?><Workbook/>', "web page"),
        ("roll.pdf", b"%PDF-1.7\n\x00\x01\x02", "this is a PDF document"),
        ("roll.xls", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "this is a PNG image"),
        ("roll.bin", b"\x00\x01\x02\x03 binary", "neither CSV nor a workbook"),
        ("roll.csv", b"\r\n\r\n ,, \r\n", "no header row"),
    ],
)
def test_unusable_files(tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(UnusableFile, match=message) as caught:
        open_roll(path)
    assert "（" in caught.value.message  # Chinese first, then the English in brackets
    assert caught.value.zh and caught.value.en


def test_a_damaged_xls_message_is_bilingual(tmp_path):
    path = tmp_path / "roll.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100)
    with pytest.raises(UnusableFile) as caught:
        open_roll(path)
    assert caught.value.zh.startswith("文件是 Office 旧格式但不是可读取的 .xls 工作簿")
    assert "另存为 .xlsx 或 CSV" in caught.value.zh


def test_a_zip_that_is_no_workbook(tmp_path):
    path = tmp_path / "roll.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(UnusableFile, match="ZIP archive but not a readable workbook"):
        open_roll(path)


def test_content_decides_not_the_name(tmp_path):
    workbook = write_xlsx(tmp_path / "made.xlsx", [HEADERS, ROW])
    disguised = tmp_path / "roll.csv"
    disguised.write_bytes(workbook.read_bytes())
    with open_roll(disguised) as roll:
        assert roll.format == "xlsx"
    text = write_csv(tmp_path / "roll.xlsx", [",".join(HEADERS)])
    with open_roll(text) as roll:
        assert roll.format == "csv"


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(UnusableFile, match="no such file"):
        open_roll(tmp_path / "nothing.csv")
    with pytest.raises(UnusableFile, match="directory"):
        open_roll(tmp_path)


# ------------------------------------------------------------------------- progress


def test_how_much_of_a_csv_is_read_goes_by_its_bytes(tmp_path):
    path = write_csv(tmp_path / "roll.csv", [",".join(HEADERS)] + [",".join(ROW)] * 4000)
    with open_roll(path) as roll:
        rows = iter(roll)
        assert roll.read() < 0.1
        for _ in range(2000):
            next(rows)
        assert 0.4 < roll.read() < 0.6
        list(rows)
        assert roll.read() == 1.0


def test_how_much_of_a_sheet_is_read_goes_by_its_rows(tmp_path):
    path = write_xlsx(tmp_path / "roll.xlsx", [HEADERS] + [ROW] * 99)
    with open_roll(path) as roll:
        rows = iter(roll)
        for _ in range(49):
            next(rows)
        assert roll.read() == 0.5
        list(rows)
        assert roll.read() == 1.0
