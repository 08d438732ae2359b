"""Every message the code writes with _() is in the catalogue, in Chinese."""

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
