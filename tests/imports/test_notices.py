"""Rolls shaped as bureaus publish them (名单公示): a title, 填报单位 and date lines above
the header, a 序号 column and columns the registry does not use, an instructions sheet
first, blank rows and a signature footer under the data, levels written inside the
certificate's name, minority names with a middle dot; the same roll as CSV, XLSX, the
old XLS and ODS. And files that are no roll at all."""

import pytest
import sqlalchemy as sa
from odf.opendocument import OpenDocumentSpreadsheet
from odf.table import Table, TableCell, TableRow
from odf.text import P
from openpyxl import Workbook

from registry.auth.models import SystemActor
from registry.credentials.models import Certificate
from registry.identity import parse_identity
from registry.imports import services
from registry.imports.models import ImportBatch
from registry.people.models import Person
from registry.people.services import find_person, name_of
from tests.conftest import id_number
from tests.test_cli import _env, _registry

ISSUER = "杭州市职业技能鉴定中心"
HEADER = ["序号", "姓名", "性别", "身份证号码", "工作单位", "证书名称", "证书编号"]
HEADER += ["发证机构", "发证日期", "联系电话", "备注"]
IGNORED = ["序号", "性别", "工作单位", "联系电话", "备注"]
PEOPLE = [
    # name as typed, the certificate as the notice writes it, the level stored
    ("王芳", "保育师（四级）", "4"),
    ("阿依古丽•买买提", "育婴员四级", "4"),
    ("迪丽娜尔・艾力\t", "保育师四级/中级工", "4"),
    ("李\u00a0静\u00a0", "保育师(三级)", "3"),
    ("扎西．多吉", "高级育婴师", "3"),
]
STORED_NAMES = ["王芳", "阿依古丽·买买提", "迪丽娜尔·艾力", "李\u00a0静", "扎西·多吉"]


def notice_rows():
    """The sheet as a notice has it, row 1 first; the header is row 4, data rows 5-9."""
    rows = [
        ["2024年第二批托育从业人员职业技能等级认定合格人员名单公示"],
        ["填报单位：杭州市职业技能鉴定中心", "", "", "", "", "", "", "", "填报日期：2024年5月10日"],
        [],
        HEADER,
    ]
    for i, (name, certificate, _) in enumerate(PEOPLE):
        rows.append(
            [
                str(i + 1),
                name,
                "女",
                id_number(100 + i) + ("\u00a0" if i == 2 else ""),
                "西湖区阳光托育园\t",
                certificate,
                f"3301202405{i:04d}",
                ISSUER,
                "2024-05-10",
                "13800000000",
                "",
            ]
        )
    rows += [
        [],  # row 10
        ["合计", "共5人"],  # row 11
        [],
        ["制表人：王五", "", "", "审核人：赵六"],  # row 13
        ["", "", "", "", "", "", "", "", "2024年5月10日"],  # row 14
    ]
    return rows


INSTRUCTIONS = [["填表说明"], ["1. 姓名：与身份证一致"], ["2. 身份证号码：18位"]]


def write_csv(path, rows):
    import csv

    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


def write_xlsx(path, rows):
    book = Workbook()
    first = book.active
    first.title = "填表说明"
    for row in INSTRUCTIONS:
        first.append(row)
    sheet = book.create_sheet("名单")
    for row in rows:
        sheet.append(row)
    sheet.merge_cells("A1:K1")  # the title across the table
    book.save(path)
    return path


def write_xls(path, rows):
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    first = book.add_sheet("填表说明")
    for r, row in enumerate(INSTRUCTIONS):
        first.write(r, 0, row[0])
    sheet = book.add_sheet("名单")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value != "":
                sheet.write(r, c, value)
    book.save(str(path))
    return path


def write_ods(path, rows):
    doc = OpenDocumentSpreadsheet()
    for name, sheet_rows in (("填表说明", INSTRUCTIONS), ("名单", rows)):
        table = Table(name=name)
        for row in sheet_rows:
            table_row = TableRow()
            for value in row:
                cell = TableCell(valuetype="string") if value != "" else TableCell()
                if value != "":
                    cell.addElement(P(text=value))
                table_row.addElement(cell)
            table.addElement(table_row)
        doc.spreadsheet.addElement(table)
    doc.save(str(path))
    return path


WRITERS = {
    "csv": (write_csv, None),
    "xlsx": (write_xlsx, "名单"),
    "xls": (write_xls, "名单"),
    "ods": (write_ods, "名单"),
}


@pytest.fixture
def importer(app, session):
    def run(path, **options):
        with app.app_context():
            return services.run_import(session, SystemActor("test"), path, **options)

    return run


@pytest.mark.parametrize("format", list(WRITERS))
def test_a_published_notice_imports_as_it_is(app, session, importer, tmp_path, format):
    write, sheet = WRITERS[format]
    summary = importer(write(tmp_path / f"名单公示.{format}", notice_rows()))
    assert summary.errors == []
    assert (summary.status, summary.rows, summary.created, summary.rejected) == (
        "accepted",
        5,
        5,
        0,
    )
    assert (summary.header_row, summary.sheet, summary.people_created) == (4, sheet, 5)
    assert summary.ignored_columns == IGNORED
    assert (summary.skipped, summary.skipped_rows) == (3, [11, 13, 14])
    certificates = session.scalars(sa.select(Certificate).order_by(Certificate.number)).all()
    assert [(c.kind, c.level) for c in certificates] == [
        ("childcare_worker", "4"),
        ("infant_nurturer", "4"),
        ("childcare_worker", "4"),
        ("childcare_worker", "3"),
        ("infant_nurturer", "3"),
    ]
    with app.app_context():
        names = [
            name_of(find_person(session, parse_identity(id_number(100 + i)))) for i in range(5)
        ]
    assert names == STORED_NAMES
    batch = session.get(ImportBatch, summary.batch_id)
    assert (batch.header_row, batch.ignored_columns, batch.skipped) == (4, IGNORED, 3)


def test_the_same_roll_in_every_format_is_one_import_then_unchanged(session, importer, tmp_path):
    first = importer(write_xls(tmp_path / "roll.xls", notice_rows()))
    assert first.created == 5
    for format in ("csv", "xlsx", "ods"):
        again = importer(WRITERS[format][0](tmp_path / f"roll.{format}", notice_rows()))
        assert (again.created, again.updated, again.unchanged, again.people_created) == (
            0,
            0,
            5,
            0,
        )
    assert session.scalar(sa.select(sa.func.count()).select_from(Person)) == 5


def test_a_changed_expiry_is_reported_as_an_update_with_its_field(session, importer, tmp_path):
    importer(write_csv(tmp_path / "roll.csv", notice_rows()))
    rows = notice_rows()
    rows[3] = [*HEADER, "有效期至"]
    rows[4] = [*rows[4], "2029-05-09"]
    summary = importer(write_csv(tmp_path / "renewed.csv", rows))
    assert (summary.created, summary.updated, summary.unchanged) == (0, 1, 4)
    assert summary.updated_fields == {"expires_on": 1}
    assert summary.accepted == 1
    dry = importer(write_csv(tmp_path / "again.csv", rows), dry_run=True)
    assert (dry.created, dry.updated, dry.unchanged) == (0, 0, 5)


def test_a_row_with_some_of_a_persons_fields_is_still_an_error(session, importer, tmp_path):
    rows = notice_rows()
    rows.insert(9, ["6", "赵敏", "女", id_number(200)])  # row 10: no certificate
    summary = importer(write_csv(tmp_path / "roll.csv", rows))
    assert summary.status == "rejected"
    assert {e["row"] for e in summary.errors} == {10}
    assert {e["header"] for e in summary.errors} >= {"证书名称", "证书编号", "发证机构"}
    assert summary.skipped_rows == [12, 14, 15]


def test_a_named_sheet_is_read_and_a_sheet_without_a_roll_is_unusable(importer, tmp_path):
    path = write_xlsx(tmp_path / "roll.xlsx", notice_rows())
    assert importer(path, sheet="名单").created == 5
    with pytest.raises(services.UnusableFile, match="not a roll"):
        importer(path, sheet="填表说明")


@pytest.mark.parametrize(
    ("name", "data", "said"),
    [
        ("名单.csv", "请查收附件中的名单。\n谢谢！\n王五\n".encode(), "not a roll"),
        ("名单.txt", "姓名 张三\n身份证号 330106199001010011\n".encode("gbk"), "not a roll"),
        ("名单.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10", "PNG image"),
        ("名单.pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "PDF document"),
        (
            "名单.xls",
            "<html><head><meta charset='utf-8'></head><body><table><tr><td>姓名</td>"
            "<td>身份证号码</td><td>证书编号</td></tr></table></body></html>".encode(),
            "web page",
        ),
    ],
)
def test_files_that_are_no_roll_exit_2_with_one_sentence(
    tmp_path, scratch_database_url, name, data, said
):
    env = _env(tmp_path, scratch_database_url)
    assert _registry(env, "init").returncode == 0
    path = tmp_path / name
    path.write_bytes(data)
    result = _registry(env, "import-roll", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert said in result.stderr and result.stdout == ""
    assert "Traceback" not in result.stderr and "missing column" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
