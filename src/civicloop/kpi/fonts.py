"""A CJK font for PDFs: Noto Sans CJK (Debian's fonts-noto-cjk) subset and converted for ReportLab.

Debian ships Noto Sans CJK as OpenType collections with CFF outlines, which ReportLab cannot embed. The
characters a document uses are therefore subset from the collection with fontTools and their outlines
converted to TrueType (quadratic) curves in memory; ReportLab embeds that subset. Each subset is
registered under a name derived from its characters, so two documents never share a subset that lacks
the other's glyphs. ``CIVICLOOP_CJK_FONT`` may name another font file, or a folder whose fonts alone are
looked at. Without a font, FontMissing says what to install: a report never prints boxes instead of text.

Charts (Matplotlib, in the XLSX and HTML reports) need Chinese glyphs but not this font in particular:
:func:`find_chart_font` takes Noto Sans CJK when it is there, else any installed font that covers
Chinese (fontconfig's choice for ``:lang=zh-cn``, checked against the font's own character map).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
from pathlib import Path

from civicloop.kernel.i18n import Msg, both, t

FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJKsc-Regular.otf",
)


class FontMissing(RuntimeError):
    pass


FONT_SUFFIXES = (".ttc", ".otc", ".otf", ".ttf")
SAMPLE = t("reports.glyph_probe", "zh-CN")  # characters every report draws: without them, no CJK font
INSTALL = "apt-get install fonts-noto-cjk"


def _missing(what: str) -> FontMissing:
    return FontMissing(str(Msg("reports.font_missing", what=Msg(what), install=INSTALL)))


def _configured() -> Path | None:
    """``CIVICLOOP_CJK_FONT``: a font file, or a folder of fonts (the first CJK one in it); None if unset."""
    configured = os.environ.get("CIVICLOOP_CJK_FONT")
    if not configured:
        return None
    path = Path(configured)
    if path.is_file():
        return path
    if path.is_dir():
        fonts = sorted(p for p in path.iterdir() if p.suffix.lower() in FONT_SUFFIXES and p.is_file())
        fonts.sort(key=lambda p: "CJK" not in p.name)  # Noto Sans CJK first, then the rest by name
        for font in fonts:
            if covers_cjk(font):
                return font
        raise FontMissing(both("reports.font_folder_without_cjk", path=configured, install=INSTALL))
    raise FontMissing(both("reports.font_file_missing", path=configured))


def _fc_match(pattern: str) -> str:
    if not shutil.which("fc-match"):
        return ""
    try:
        return subprocess.run(
            ["fc-match", "-f", "%{file}", pattern], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def find_cjk_font() -> Path:
    """The Noto Sans CJK file (or ``CIVICLOOP_CJK_FONT``); FontMissing says how to get one."""
    configured = _configured()
    if configured is not None:
        return configured
    candidates = list(FONT_CANDIDATES)
    found = _fc_match("Noto Sans CJK SC")
    if found and "CJK" in Path(found).name:
        candidates.insert(0, found)
    for candidate in candidates:
        if Path(candidate).is_file():
            return Path(candidate)
    raise _missing("reports.what_pdf")


def find_chart_font() -> Path:
    """A font with Chinese glyphs for the charts: Noto Sans CJK, else any installed CJK font.

    ``CIVICLOOP_CJK_FONT``, when set, is the only place looked at. FontMissing names the package to
    install, so a report fails before any work rather than drawing boxes.
    """
    try:
        return find_cjk_font()
    except FontMissing:
        if os.environ.get("CIVICLOOP_CJK_FONT"):
            raise
    found = _fc_match(":lang=zh-cn")
    if found and Path(found).is_file() and covers_cjk(Path(found)):
        return Path(found)
    raise _missing("reports.what_charts")


def covers_cjk(path: Path) -> bool:
    """Whether the font at *path* (its first face) has glyphs for the report's Chinese."""
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped, unused-ignore]

    try:
        font = TTFont(str(path), fontNumber=0, lazy=True)
    except Exception:  # not a font fontTools can read: not one we can use either
        return False
    try:
        cmap = font.getBestCmap() or {}
        return all(ord(ch) in cmap for ch in SAMPLE)
    except Exception:
        return False
    finally:
        font.close()


def _face_index(path: Path) -> int:
    """The Simplified-Chinese face of a collection (Noto Sans CJK SC), else the first face."""
    if path.suffix.lower() not in (".ttc", ".otc"):
        return 0
    from fontTools.ttLib import TTCollection  # type: ignore[import-untyped, unused-ignore]

    collection = TTCollection(str(path), lazy=True)
    try:
        for i, face in enumerate(collection.fonts):
            family = face["name"].getDebugName(1) or ""
            if family.endswith(" SC"):
                return i
    finally:
        collection.close()
    return 0


def _subset_truetype(path: Path, text: str, ps_name: str) -> io.BytesIO:
    """The glyphs of *text* from *path* as an in-memory TrueType font (CFF outlines converted)."""
    from fontTools import subset  # type: ignore[import-untyped, unused-ignore]
    from fontTools.pens.cu2quPen import Cu2QuPen  # type: ignore[import-untyped, unused-ignore]
    from fontTools.pens.ttGlyphPen import TTGlyphPen  # type: ignore[import-untyped, unused-ignore]
    from fontTools.ttLib import TTFont, newTable  # type: ignore[import-untyped, unused-ignore]

    font = TTFont(str(path), fontNumber=_face_index(path), lazy=False)
    options = subset.Options()
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.layout_features = []
    options.hinting = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(font)
    if "CFF " in font:
        order = font.getGlyphOrder()
        glyph_set = font.getGlyphSet()
        glyf = newTable("glyf")
        glyf.glyphOrder = order
        glyf.glyphs = {}
        for name in order:
            pen = TTGlyphPen(glyph_set)
            glyph_set[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
            glyf.glyphs[name] = pen.glyph()
        font["glyf"] = glyf
        font["loca"] = newTable("loca")
        del font["CFF "]
        if "VORG" in font:
            del font["VORG"]
        maxp = newTable("maxp")
        maxp.tableVersion = 0x00010000
        for attr in (
            "maxZones",
            "maxTwilightPoints",
            "maxStorage",
            "maxFunctionDefs",
            "maxInstructionDefs",
            "maxStackElements",
            "maxSizeOfInstructions",
            "maxComponentElements",
        ):
            setattr(maxp, attr, 0)
        maxp.maxZones = 1
        font["maxp"] = maxp
        post = font["post"]
        post.formatType = 2.0
        post.extraNames = []
        post.mapping = {}
        post.glyphOrder = order
        font.sfntVersion = "\x00\x01\x00\x00"
        font["head"].glyphDataFormat = 0
    # A PostScript name of its own: ReportLab keeps glyph assignments per font *name* inside the file,
    # so two subsets both called NotoSansCJKsc-Regular in one process garble the second document.
    for record in font["name"].names:
        if record.nameID in (4, 6):
            record.string = ps_name
    out = io.BytesIO()
    font.save(out)
    font.close()
    out.seek(0)
    return out


def register_cjk_font(text: str) -> str:
    """Register a subset of the CJK font covering *text* with ReportLab; returns its font name."""
    from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped, unused-ignore]
    from reportlab.pdfbase.ttfonts import TTFont as ReportLabFont  # type: ignore[import-untyped, unused-ignore]

    path = find_cjk_font()
    chars = "".join(sorted(set(text) | set("0123456789.%-:/ ")))
    name = "CJK-" + hashlib.sha1(f"{path}|{chars}".encode()).hexdigest()[:12]
    if name in pdfmetrics.getRegisteredFontNames():
        return name
    try:
        data = _subset_truetype(path, chars, f"NotoSansCJK-{name}")
        pdfmetrics.registerFont(ReportLabFont(name, data))
    except Exception as exc:
        raise FontMissing(both("reports.font_unreadable", path=path, error=exc)) from exc
    return name
