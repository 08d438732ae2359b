"""Every message the code writes with _() is in the catalogue, in Chinese."""

import ast
import re
from pathlib import Path

from babel.messages.extract import extract_from_dir

from registry import messages
from registry.messages import _, translate

ROOT = Path(__file__).resolve().parent.parent


def _used_ids():
    for folder in ("registry", "cli"):
        for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords={"_": None}
        ):
            yield message if isinstance(message, str) else message[0]


def test_every_message_of_the_code_is_in_the_catalogue():
    used = set(_used_ids())
    assert len(used) > 10  # the extractor found the messages at all
    missing = sorted(used - messages.ZH.keys())
    assert missing == [], "add these to registry/translations/zh_CN/LC_MESSAGES/messages.po"


def test_a_message_reads_chinese_first_with_the_english_beside_it():
    reason = "disk I/O error"
    text = _(
        "the database refused the command ({reason}); a new one needs `registry init`",
        reason=reason,
    )
    assert text.startswith("数据库拒绝了该命令（disk I/O error）")
    assert text.endswith(
        "（the database refused the command (disk I/O error); a new one needs `registry init`）"
    )


def test_library_texts_are_translated_and_others_left_alone():
    assert (
        translate("Missing data for required field.")
        == "缺少必填字段（Missing data for required field.）"
    )
    assert translate("证件号码应为18位") == "证件号码应为18位"


def test_an_unknown_field_answers_in_chinese(client, make_user):
    _user, headers = make_user("bureau")
    response = client.post("/api/v1/institutions", json={"surprise": 1}, headers=headers)
    assert response.status_code == 422
    body = response.get_json()
    assert body["message"].startswith("请求内容或参数有误")
    assert body["errors"]["surprise"] == ["未知字段（Unknown field.）"]
    assert body["errors"]["code"] == ["缺少必填字段（Missing data for required field.）"]


def test_a_choice_outside_the_list_answers_in_chinese_on_the_api_too(client, make_user):
    _user, headers = make_user("bureau")
    body = {"id_number": "110105199001010013", "name": "王芳", "education": "phd"}
    response = client.post("/api/v1/people", json=body, headers=headers)
    assert response.status_code == 422
    [message] = response.get_json()["errors"]["education"]
    assert message.startswith("请从列表中选择（Must be one of: ")


# What may still be raised with a literal message, and why.
LITERAL_MESSAGES_ALLOWED = {
    # Programming errors: a bug of ours, logged and answered with a bare 500, never shown.
    "ValueError": "a programming error, never shown to a person",
    "TypeError": "a programming error, never shown to a person",
    "RuntimeError": "a programming error, never shown to a person",
    "AssertionError": "a programming error, never shown to a person",
    # SQLAlchemy's error for a failed statement: the text names the statement, not a
    # message; the command line shows its own catalogued message for it.
    "instance": "SQLAlchemy's DBAPIError.instance(statement, …)",
    # Inside the key ring only: the rotation, the one place that meets it, says in the
    # catalogue what went wrong and what to do, with this as the reason.
    "DecryptionError": "the technical reason inside a catalogued rotation message",
    # The certificate catalogue shipped inside the package is checked when the module is
    # imported: its maintainers read these, with the key they name.
    "CatalogueError": "a catalogue file's mistake, for the maintainers of the catalogue",
}
# The field-by-field schema checks of the rule files and of the catalogue
# (``ValidationError``, ``fail``), read by whoever edits those files.
FILES_FOR_MAINTAINERS = {"registry/eligibility/rulesets.py", "registry/credentials/catalogue.py"}
# Messages with their own Chinese and English halves, built cell by cell for rolls of
# millions of rows and for identity numbers (CellError(zh, en), InvalidIdentifier(zh, en),
# UnusableFile(zh, en) …), are written in place as a pair and pass.
WORD = re.compile(r"[A-Za-z\u4e00-\u9fff]")
# Calls whose first argument, or ``error=``, is a message a person reads.
MESSAGE_CALLS = {"ValidationError", "BadParameter", "UsageError", "ClickException", "fail"}


def _name(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _literal(node) -> bool:
    """Words written in place: a string, an f-string, or strings joined with +, with a
    letter outside the fields ("{path}: {exc}" only joins messages made elsewhere)."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and WORD.search(node.value) is not None
    if isinstance(node, ast.JoinedStr):
        return any(map(_literal, node.values))
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _literal(node.left) or _literal(node.right)
    return False


def _pair(args) -> bool:
    """A message given as its own Chinese and English halves, (zh, en)."""
    if len(args) < 2 or not _literal(args[0]):
        return False
    english = args[1]
    return _literal(english) or (isinstance(english, ast.Attribute) and english.attr == "en")


def _bare_messages(source: str, relative: str):
    """(line, what) of each message written in place instead of with _(), by line."""
    return sorted(dict(_messages_in_place(source, relative)).items())


def _messages_in_place(source: str, relative: str):
    tree = ast.parse(source)
    maintainers = relative in FILES_FOR_MAINTAINERS
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            name = _name(node.exc.func)
            args = node.exc.args[:1] + [k.value for k in node.exc.keywords if k.arg == "message"]
            allowed = name in LITERAL_MESSAGES_ALLOWED or (maintainers and name in MESSAGE_CALLS)
            if not allowed and not _pair(node.exc.args) and any(map(_literal, args)):
                yield node.lineno, f"raise {name}(…)"
        if isinstance(node, ast.Call) and not maintainers:
            name = _name(node.func)
            if name in MESSAGE_CALLS and node.args and _literal(node.args[0]):
                yield node.lineno, f"{name}(…)"
            # A page's own text is Chinese in its template or its context; segno's
            # error= is the QR code's error-correction level.
            for keyword in node.keywords if name not in ("render_template", "make") else ():
                if keyword.arg == "error" and _literal(keyword.value):
                    yield node.lineno, "error=…"
            if name == "Invalid" and len(node.args) > 1 and isinstance(node.args[1], ast.Dict):
                for value in node.args[1].values:
                    items = value.elts if isinstance(value, ast.List) else [value]
                    if any(map(_literal, items)):
                        yield node.lineno, "Invalid(…, {field: [literal]})"


def test_no_message_a_person_reads_is_written_in_place():
    found = []
    for folder in ("registry", "cli"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            for line, what in _bare_messages(path.read_text(encoding="utf-8"), relative):
                found.append(f"{relative}:{line}: {what}")
    assert found == [], "write these messages with _() and add them to messages.po"


def test_the_check_for_messages_written_in_place_finds_them():
    source = (
        "raise NotFound(f'no person with id {person_id}')\n"
        "raise Conflict('这个人已登记（this person is already registered）', id=1)\n"
        "raise Invalid(_('the user cannot be created'), {'role': ['unknown role']})\n"
        "validate.Length(max=5, error='too long')\n"
        "raise click.UsageError('give either --id or --id-number')\n"
        "raise ValueError('a bug of ours')\n"
        "raise CellError('不是有效的日期', 'not a valid date')\n"
        "raise BadParameter(f'{path}: {exc}')\n"
        "raise NotFound(_('no person with id {person_id}', person_id=1))\n"
    )
    found = [line for line, _what in _bare_messages(source, "registry/example.py")]
    assert found == [1, 2, 3, 4, 5]
