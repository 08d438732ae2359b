"""What every web page shares: who may see it, the navigation of each role, how dates
and identity numbers are shown, and error pages in the layout.

Pages live with their domain (``registry/<domain>/pages.py``, templates in
``templates/<domain>/``) and are as thin as the API's views: read the form, call the
same service, render a template. A page knows its user by the session cookie only.
"""

from datetime import date, datetime
from functools import wraps
from urllib.parse import urlsplit

from flask import current_app, g, redirect, render_template, request, url_for

from registry import clock

# Each role's pages, in the order of its navigation; the first is where it lands after
# signing in. An entry whose page is not (yet) served is left out of the navigation.
NAV = {
    "director": [
        ("director.check", "候选人核查"),
        ("director.hire", "录用"),
        ("director.roster", "在岗人员"),
        ("director.compliance", "合规情况"),
        ("director.expiring", "证书到期"),
        ("director.alerts", "提醒"),
    ],
    "hr": [
        ("imports_pages.imports", "名单导入"),
        ("people_pages.people", "人员"),
    ],
    "bureau": [
        ("institutions_pages.index", "机构"),
        ("bans_pages.index", "禁入名单"),
        ("rates_pages.index", "持证率"),
        ("alerts_pages.bureau", "提醒"),
        ("bans_pages.rescreen", "年度复查"),
        ("people_pages.people", "人员"),
        ("pages.users", "用户与令牌"),
        ("pages.audit_log", "审计"),
    ],
    "admin": [
        ("institutions_pages.index", "机构"),
        ("bans_pages.index", "禁入名单"),
        ("rates_pages.index", "持证率"),
        ("alerts_pages.bureau", "提醒"),
        ("bans_pages.rescreen", "年度复查"),
        ("pages.users", "用户与令牌"),
        ("pages.audit_log", "审计"),
    ],
    "inspector": [
        ("bans_pages.verify_receipt", "回执核验"),
        ("rates_pages.index", "持证率"),
        ("staffing_pages.rosters", "在岗人员"),
    ],
}


def navigation(role: str) -> list[tuple[str, str]]:
    """The role's pages that this registry serves, as (endpoint, label)."""
    served = current_app.view_functions
    return [(endpoint, label) for endpoint, label in NAV.get(role, []) if endpoint in served]


def landing(role: str) -> str:
    """Where a user of ``role`` lands after signing in: the first page of the role's
    navigation, or the home page while it has none."""
    pages = navigation(role)
    return url_for(pages[0][0]) if pages else url_for("pages.home")


def page(*roles: str):
    """A page for signed-in users of ``roles``. Anybody else signed in gets the 403
    page; nobody signed in goes to sign in and comes back here (a form posted after the
    session ended is not kept: the sign-in page says so)."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            from registry.auth.pages import signed_in_user  # the sign-in pages use this module

            user = signed_in_user()
            if user is None:
                return redirect(sign_in_url())
            if user.must_change_password:
                return redirect(url_for("pages.change_password"))
            if user.role not in roles:
                return error_page(403, "您的角色无权查看此页面。")
            return view(*args, **kwargs)

        wrapper.page_roles = roles  # read by the authorization test
        return wrapper

    return decorator


def sign_in_url() -> str:
    """The sign-in page, to come back to this one: a GET comes back to the same address;
    a POST comes back to the form's page, and the sign-in page says that what was
    submitted was not saved."""
    if request.method == "GET":
        return url_for("pages.login", next=request.full_path.rstrip("?"))
    back = safe_next(request.referrer) or request.path
    return url_for("pages.login", next=back, lost=1)


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this registry (never another site), else None."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.netloc and parts.netloc != request.host:
        return None
    path = parts.path or "/"
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return None
    return path + (f"?{parts.query}" if parts.query else "")


def error_page(status: int, message: str | None = None):
    titles = {
        400: "请求有误",
        403: "无权访问",
        404: "页面不存在",
        405: "不支持的操作",
        413: "文件过大",
        422: "输入有误",
        429: "操作过于频繁",
        500: "系统错误",
        503: "系统繁忙",
    }
    title = titles.get(status, "出错了")
    return render_template("error.html", status=status, title=title, message=message), status


def cn_date(value) -> str:
    """2026年11月28日 (a datetime: its date in China, with the time)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        local = value.astimezone(clock.CHINA)
        return f"{local.year}年{local.month}月{local.day}日 {local:%H:%M}"
    if isinstance(value, date):
        return f"{value.year}年{value.month}月{value.day}日"
    return str(value)


def page_url(name: str, number: int) -> str:
    """This page's address at page ``number`` of its list ``name``, keeping the rest of
    the address (path arguments, filters)."""
    query = {name: number}
    query.update((key, value) for key, value in request.args.items() if key != name)
    return url_for(request.endpoint, **(request.view_args or {}), **query)


def init_pages(app) -> None:
    """The layout's helpers, for every template."""
    app.add_template_filter(cn_date)
    app.add_template_global(page_url)

    @app.context_processor
    def _layout():
        user = g.get("page_user")
        return {
            "nav": navigation(user.role) if user is not None else [],
            "today": clock.today(),
        }


def page_number(name: str = "page") -> int:
    """The ``?page=`` (or ``?<name>=``) of a list page: from 1; anything else is page 1."""
    text = request.args.get(name, "")
    return int(text) if text.isdigit() and 0 < int(text) < 1_000_000 else 1


def _field_message(text: str, name: str | None) -> str:
    from registry.messages import translate

    said = translate(text)
    if not any("\u4e00" <= c <= "\u9fff" for c in said):  # a text the catalogue lacks
        return f"{name or '填写内容'}有误（{text}）"
    return said if name is None or said.startswith(name) else f"{name}有误：{said}"


def form_errors(messages, names: dict[str, str] | None = None, prefix: str = "") -> dict[str, str]:
    """A schema's or a service's messages as one message per form field, each in Chinese
    with the English beside it, as the form shows them beside the field: nested ones
    named ``classes-0-children``, what concerns the whole form ``_schema``. ``names``
    gives fields' Chinese names, which say where a text unknown to the catalogue was."""
    names = names or {}
    flat: dict[str, str] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            flat.update(form_errors(value, names, f"{prefix}-{key}" if prefix else str(key)))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        if messages:
            name = names.get(prefix.rsplit("-", 1)[-1])
            flat[prefix or "_schema"] = "；".join(_field_message(m, name) for m in messages)
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            flat.update(form_errors(value, names, f"{prefix}-{index}"))
    elif isinstance(messages, str):
        flat[prefix or "_schema"] = _field_message(messages, names.get(prefix))
    return flat
