"""`registry import-roll`: in-process for the output, as a subprocess for exit codes."""

import io
import json
import re

import sqlalchemy as sa

from registry.credentials.models import Certificate
from tests.imports.test_services import good_rows, write_csv, write_xlsx
from tests.test_cli import _env, _registry


def test_text_summary_and_exit_0(run, tmp_path):
    result = run("import-roll", str(write_csv(tmp_path / "roll.csv", good_rows(3))))
    assert result.exit_code == 0, result.output
    assert re.search(r"导入批次 \d+：已接受（import \d+: accepted）", result.output)
    assert "rows 3  accepted 3  unchanged 0  rejected 0" in result.output


def test_rejected_file_lists_its_errors_and_exits_1(run, session, tmp_path):
    rows = good_rows(3)
    rows[2][2] = "厨师证"
    result = run("import-roll", str(write_csv(tmp_path / "roll.csv", rows)))
    assert result.exit_code == 1
    assert re.search(r"导入批次 \d+：已拒绝（import \d+: rejected）", result.output)
    assert "第4行 证书名称:" in result.output
    assert session.scalar(sa.select(sa.func.count()).select_from(Certificate)) == 0


def test_only_the_first_errors_in_text(run, tmp_path, monkeypatch):
    from cli import imports

    monkeypatch.setattr(imports, "SHOWN_ERRORS", 2)
    rows = good_rows(5)
    for r in rows:
        r[6] = "昨天"
    result = run("import-roll", str(write_csv(tmp_path / "roll.csv", rows)))
    assert result.exit_code == 1
    assert result.output.count("  第") == 2  # two errors shown
    assert "5 errors in all" in result.output and "errors.csv" in result.output


def test_json_dry_run_and_partial(run, session, tmp_path):
    rows = good_rows(3)
    rows[1][6] = "2021-13-01"
    path = str(write_xlsx(tmp_path / "roll.xlsx", rows))
    dry = run("import-roll", path, "--dry-run", "--partial", "--format", "json")
    assert dry.exit_code == 0, dry.output
    summary = json.loads(dry.output)
    assert set(summary) >= {"batch_id", "rows", "accepted", "unchanged", "rejected", "errors"}
    assert (summary["accepted"], summary["rejected"]) == (2, 1)
    assert (summary["created"], summary["people_created"], summary["sheet"]) == (2, 2, "Sheet")
    assert summary["errors"][0]["row"] == 3 and summary["errors"][0]["column"] == "issued_on"
    assert session.scalar(sa.select(sa.func.count()).select_from(Certificate)) == 0
    partial = json.loads(run("import-roll", path, "--partial", "--format", "json").output)
    assert partial["accepted"] == 2
    assert session.scalar(sa.select(sa.func.count()).select_from(Certificate)) == 2


def test_unusable_file_exits_2(run, tmp_path):
    result = run("import-roll", str(tmp_path / "missing.csv"))
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_subprocess_exit_codes_and_json_stdout(tmp_path, scratch_database_url):
    env = _env(tmp_path, scratch_database_url)
    assert _registry(env, "init").returncode == 0
    good = write_csv(tmp_path / "good.csv", good_rows(3))
    accepted = _registry(env, "import-roll", str(good), "--format", "json")
    assert accepted.returncode == 0, accepted.stderr
    summary = json.loads(accepted.stdout)  # stdout is exactly the JSON
    assert (summary["rows"], summary["accepted"], summary["errors"]) == (3, 3, [])
    again = json.loads(_registry(env, "import-roll", str(good), "--format", "json").stdout)
    assert (again["accepted"], again["unchanged"]) == (0, 3)
    rows = good_rows(2)
    rows[1][1] = "123"
    rejected = _registry(env, "import-roll", str(write_csv(tmp_path / "bad.csv", rows)))
    assert rejected.returncode == 1 and "第3行" in rejected.stdout
    missing = _registry(env, "import-roll", str(tmp_path / "missing.csv"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    (tmp_path / "old.xls").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(100))
    unknown = _registry(env, "import-roll", str(tmp_path / "old.xls"))
    assert unknown.returncode == 2 and unknown.stdout == ""


def test_imports_list_newest_first_by_status(run, tmp_path):
    assert run("import-roll", str(write_csv(tmp_path / "good.csv", good_rows(3)))).exit_code == 0
    rows = good_rows(2)
    rows[1][2] = "厨师证"
    assert run("import-roll", str(write_csv(tmp_path / "bad.csv", rows))).exit_code == 1
    listed = run("imports", "list", "--format", "json")
    assert listed.exit_code == 0, listed.output
    assert [
        (b["filename"], b["status"], b["rows"], b["rejected"]) for b in json.loads(listed.stdout)
    ] == [
        ("bad.csv", "rejected", 2, 1),
        ("good.csv", "accepted", 3, 0),
    ]
    rejected = run("imports", "list", "--status", "rejected", "--format", "json")
    assert [b["filename"] for b in json.loads(rejected.stdout)] == ["bad.csv"]
    table = run("imports", "list", "--page-size", "1").stdout.splitlines()
    assert table[0].split()[:4] == ["batch_id", "created_at", "status", "filename"]
    assert "已拒绝 rejected" in table[1] and len(table) == 2
    paged = run("imports", "list", "--page", "2", "--page-size", "1", "--format", "json")
    assert [b["filename"] for b in json.loads(paged.stdout)] == ["good.csv"]
    assert "第 2/2 页，共 2 条" in paged.stderr
    assert run("imports", "list", "--page-size", "501").exit_code == 2


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_progress_bar_shows_rows_per_second_and_time_left(monkeypatch):
    from cli import imports

    clock = iter(range(0, 100, 2))  # every look at the clock is two seconds later
    monkeypatch.setattr(imports.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr("click._termui_impl.time.time", lambda: next(clock))
    terminal = _Terminal()
    bar = imports._ProgressBar(file=terminal)
    assert terminal.getvalue() == ""  # nothing drawn before the first rows
    bar(5000, 0.25)
    bar(10000, 0.5)
    shown = terminal.getvalue()
    bar.done()
    assert "50%" in shown and "10,000 行" in shown and "行/秒" in shown
    assert "00:00:" in shown  # the time left


def test_no_progress_bar_off_a_terminal_or_in_json(run, tmp_path):
    path = str(write_csv(tmp_path / "roll.csv", good_rows(3)))
    result = run("import-roll", path, "--format", "json")
    assert json.loads(result.output)["rows"] == 3  # stdout is the JSON alone
    text = run("import-roll", path)
    assert "行/秒" not in text.output and "表头在第1行" in text.output
