"""The certification-rate chart: a bar per institution, each district's target drawn as a
line across its institutions' bars. PNG or SVG, by the file's extension (matplotlib)."""

import io
import itertools
import re
import warnings
from pathlib import Path

import matplotlib
from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from registry.messages import _

FORMATS = (".png", ".svg")
# More bars than this are unreadable in one picture; the caller narrows the selection.
MAX_BARS = 200
# Fonts with the Chinese characters of names, the usual ones of Linux, Windows and macOS.
CJK_FONTS = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "Droid Sans Fallback",
)


class ChartError(ValueError):
    """The chart cannot be drawn as asked (the message says why)."""


# Their files, by the words in their names.
CJK_FILES = ("cjk", "wqy", "sourcehan", "simhei", "msyh", "pingfang", "droidsansfallback")


def cjk_font() -> str | None:
    """The first installed font of ``CJK_FONTS``, or None. matplotlib's cache of fonts
    predates fonts installed after it was made, so the system's files are looked at too."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    if not installed.intersection(CJK_FONTS):
        for path in font_manager.findSystemFonts():
            if any(word in Path(path).name.lower() for word in CJK_FILES):
                font_manager.fontManager.addfont(path)
        installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def draw(report: dict, path: Path, font: str | None = None) -> list[str]:
    """Write the chart of ``report`` (as ``services.rates`` returns it) to ``path``.

    Bars are labelled with the institutions' names where ``font`` (a CJK font) is given;
    without one, a PNG is labelled with the codes, and an SVG keeps the names as text for
    the viewer's fonts. Returns notes for the user (such as that fallback).
    """
    if path.suffix.lower() not in FORMATS:
        raise ChartError(_("{name!r}: the chart is written as .png or .svg", name=path.name))
    svg = path.suffix.lower() == ".svg"
    notes = []
    _plot_with(report, path, font, svg)
    if not (font is not None or svg):
        notes.append(
            _(
                "no font with Chinese characters is installed (such as Noto Sans CJK SC, "
                "Debian package fonts-noto-cjk): the chart is labelled with institution codes "
                "and in English"
            )
        )
    return notes


def _plot_with(report: dict, out, font: str | None, svg: bool) -> None:
    institutions = report["institutions"]
    if len(institutions) > MAX_BARS:
        raise ChartError(
            _(
                "{count} institutions are too many for one chart (at most {most}); choose a "
                "district or only those below target",
                count=len(institutions),
                most=MAX_BARS,
            )
        )
    chinese = font is not None or svg
    rc = {
        "font.family": [font, "DejaVu Sans"] if font else ["DejaVu Sans"],
        "svg.fonttype": "none",  # text stays text in an SVG
        "svg.hashsalt": "registry",  # the same ids for the same chart
    }
    with matplotlib.rc_context(rc), warnings.catch_warnings():
        if svg and font is None:
            # The viewer draws the characters; only the layout lacks their widths.
            warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        _plot(report, institutions, out, chinese, "svg" if svg else "png")


_STYLE = re.compile(r' style="([^"]*)"')
_PROPERTY = re.compile(r"\s*([a-z-]+)\s*:\s*([^;]+?)\s*(?:;|$)")


def _as_attributes(match: re.Match) -> str:
    return "".join(f' {name}="{value}"' for name, value in _PROPERTY.findall(match[1]))


def svg_markup(report: dict, title: str) -> str:
    """The chart as an ``<svg>`` element to embed in a page. Its style attributes are
    rewritten as SVG presentation attributes, so that a Content-Security-Policy
    without inline styles still lets the page draw it."""
    buffer = io.StringIO()
    _plot_with(report, buffer, cjk_font(), svg=True)
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>", "", text, flags=re.S)
    text = re.sub(r"<style[^>]*>.*?</style>", "", text, flags=re.S)
    text = _STYLE.sub(_as_attributes, text)
    text = re.sub(
        r'<svg ([^>]*?)width="[^"]*" height="[^"]*"',
        lambda m: (
            f'<svg {m[1]}width="100%" role="img" aria-label="{_escape(title)}" '
            'stroke-linejoin="round" stroke-linecap="butt"'
        ),
        text,
        count=1,
    )
    return text


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


_COLOURS = {True: "#2e7d32", False: "#c62828", None: "#9e9e9e", "not_due": "#f9a825"}


def _colour(institution: dict) -> str:
    """Green meets, red below a target that is due, amber below one not yet due."""
    if institution["meets_target"] is False and institution.get("due") is False:
        return _COLOURS["not_due"]
    return _COLOURS[institution["meets_target"]]


_TARGET_COLOURS = ("#1565c0", "#6a1b9a", "#ef6c00", "#00838f", "#37474f")


def _plot(report: dict, institutions: list[dict], out, chinese: bool, format: str) -> None:
    def say(zh: str, en: str) -> str:
        return f"{zh} {en}" if chinese else en

    figure = Figure(figsize=(9, 2.2 + 0.32 * max(len(institutions), 1)), layout="constrained")
    ax = figure.add_subplot()
    rows = range(len(institutions))
    ax.barh(
        rows,
        [(i["rate"] or 0) * 100 for i in institutions],
        color=[_colour(i) for i in institutions],
    )
    for row, institution in enumerate(institutions):
        rate = institution["rate"]
        text = (
            say("无在岗人员", "no staff")
            if rate is None
            else f"{rate:.0%} ({institution['certified']}/{institution['staff']})"
        )
        ax.text((rate or 0) * 100 + 1, row, text, va="center", fontsize=8)
    # Each district's target, across the rows of its institutions, named in the legend.
    handles = [
        Patch(color=_COLOURS[True], label=say("达标", "meets target")),
        Patch(color=_COLOURS[False], label=say("未达标", "below target")),
        Patch(color=_COLOURS["not_due"], label=say("未达标（目标未到期）", "below, not yet due")),
        Patch(color=_COLOURS[None], label=say("无目标", "no target")),
    ]
    row = 0
    for district, group in itertools.groupby(institutions, key=lambda i: i["district"]):
        rows_of_district = len(list(group))
        target = institutions[row]["target"]
        if target is not None:
            colour = _TARGET_COLOURS[len(handles) % len(_TARGET_COLOURS)]
            handles.append(
                ax.vlines(
                    target * 100,
                    row - 0.45,
                    row + rows_of_district - 0.55,
                    colors=colour,
                    linestyles="dashed",
                    linewidth=2,
                    label=say(f"{district} 目标", "target") + f" {target:.0%}",
                )
            )
        row += rows_of_district
    figure.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8)
    ax.set_yticks(list(rows), [i["name"] if chinese else i["code"] for i in institutions])
    ax.invert_yaxis()
    ax.set_xlim(0, 115)  # room for the figures after a full bar
    ax.set_xticks(range(0, 101, 20))
    ax.set_xlabel(say("持证率", "certification rate (%)"))
    ax.set_title(say("从业人员持证率", f"certification rates on {report['as_of']}"))
    figure.savefig(out, format=format)
