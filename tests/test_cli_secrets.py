"""Identity numbers on the command line stay out of the process list: every option that
takes one reads it from standard input (``--id-number -``) or asks on a terminal."""

import subprocess

import pytest

import cli.common
from tests.conftest import id_number
from tests.test_cli import REGISTRY, _env, _registry, on_terminal

NUMBER = id_number(7)
BAN_FIELDS = [
    "--name",
    "张某",
    "--category",
    "abuse",
    "--authority",
    "杭州市西湖区卫生健康局",
    "--decision-no",
    "西卫禁〔2026〕7号",
    "--effective-on",
    "2026-01-01",
]

# Every command that takes an identity number, without it, and the exit status it has
# when the number is read (NUMBER registered, not banned).
COMMANDS = [
    (["bans", "check"], 0),
    (["checks", "for-person"], 0),
    (["eligibility", "--role", "caregiver", "--as-of", "2026-06-01"], 4),
    (["people", "correct", "--reason", "更正姓名", "--name", "王芳芳"], 0),
    (["bans", "add", *BAN_FIELDS], 0),
]
IDS = [" ".join(args[:2]) for args, _status in COMMANDS]


@pytest.fixture
def registered(make_person):
    return make_person(7)


@pytest.mark.parametrize(("args", "status"), COMMANDS, ids=IDS)
def test_a_dash_reads_the_number_from_standard_input(run, registered, args, status):
    result = run(*args, "--id-number", "-", input=f"  {NUMBER}  \nnot read\n")
    assert result.exit_code == status, result.output


@pytest.mark.parametrize(("args", "status"), COMMANDS, ids=IDS)
def test_omitted_without_a_terminal_is_a_usage_error(run, registered, args, status):
    result = run(*args, input=f"{NUMBER}\n")  # stdin is no terminal: never read
    assert result.exit_code == 2, result.output
    error = result.output.splitlines()[-1]
    assert error.startswith("Error: 缺少证件号码"), error
    assert "--id-number -" in error


@pytest.mark.parametrize(("args", "status"), COMMANDS, ids=IDS)
def test_omitted_on_a_terminal_is_asked_without_echo(run, registered, monkeypatch, args, status):
    monkeypatch.setattr(cli.common, "stdin_is_terminal", lambda: True)
    result = run(*args, input=f"{NUMBER}\n")
    assert result.exit_code == status, result.output
    assert "证件号码（identity number）:" in result.output
    assert NUMBER not in result.output  # hidden input is not echoed


def test_a_dash_on_a_terminal_asks_without_echo(run, registered, monkeypatch):
    monkeypatch.setattr(cli.common, "stdin_is_terminal", lambda: True)
    result = run("bans", "check", "--id-number", "-", input=f"{NUMBER}\n")
    assert result.exit_code == 0 and result.stdout.splitlines()[-1] == "clear"
    assert "证件号码（identity number）:" in result.output and NUMBER not in result.output


def test_an_empty_standard_input_names_the_option(run):
    result = run("bans", "check", "--id-number", "-", input="")
    assert result.exit_code == 2
    assert "'--id-number'" in result.output and "标准输入中没有证件号码" in result.output


def test_people_correct_takes_an_id_or_a_number_not_both(run, registered):
    person = registered.public_id
    both = run("people", "correct", "--id", person, "--id-number", "-", "--reason", "x")
    assert both.exit_code == 2 and "--id" in both.output
    by_id = run("people", "correct", "--id", person, "--reason", "更正", "--name", "王")
    assert by_id.exit_code == 0, by_id.output  # --id alone never asks for a number


def test_as_a_user_runs_it_the_number_travels_on_stdin_only(tmp_path, scratch_database_url):
    env = _env(tmp_path, scratch_database_url)
    assert _registry(env, "init").returncode == 0
    commands = {
        "add": ["bans", "add", "--id-number", "-", *BAN_FIELDS],
        "check": ["bans", "check", "--id-number", "-"],
        "for-person": ["checks", "for-person", "--id-number", "-"],
    }
    results = {}
    for name, args in commands.items():
        process = subprocess.Popen(
            [*REGISTRY, *args],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert NUMBER not in " ".join(process.args)  # what `ps` would show
        out, err = process.communicate(f"{NUMBER}\n", timeout=120)
        results[name] = (process.returncode, out, err)
    assert results["add"][0] == 0, results["add"][2]
    assert results["check"][:2] == (3, "barred\n"), results["check"][2]
    assert results["for-person"][0] == 0 and "barred" in results["for-person"][1]

    omitted = _registry(env, "bans", "check", input=f"{NUMBER}\n")
    assert omitted.returncode == 2 and "缺少证件号码" in omitted.stderr


def test_on_a_terminal_the_number_is_asked_and_never_echoed(tmp_path, scratch_database_url):
    env = _env(tmp_path, scratch_database_url)
    assert _registry(env, "init").returncode == 0
    with on_terminal(env, "bans", "check") as (process, screen):
        screen.expect("证件号码（identity number）:")
        screen.type(NUMBER)
        screen.expect("clear")
        assert process.wait(timeout=30) == 0
    assert NUMBER not in screen.shown
