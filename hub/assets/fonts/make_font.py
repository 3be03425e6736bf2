#!/usr/bin/env python3
"""Build hub/assets/fonts/NotoSerifCJKsc-GB2312.ttf from Debian's fonts-noto-cjk.

Development-time only (needs fonttools); the result is committed and embedded
in kaohe-hub with include_bytes!. See README.md beside this file.

    python3 make_font.py /usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc OUT.ttf
"""
import subprocess
import sys
import tempfile

from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen
from fontTools.ttLib import TTFont, newTable

SC_INDEX = 2  # face order in NotoSerifCJK-Regular.ttc: JP, KR, SC, TC, HK
MAX_ERR = 1.0  # font units (em = 1000): cubic→quadratic tolerance


def charset():
    cps = set(range(0x20, 0x7F))            # ASCII
    cps |= set(range(0x3000, 0x3040))       # CJK symbols and punctuation
    cps |= set(range(0xFF01, 0xFF5F))       # full-width forms
    cps |= {0xFFE0, 0xFFE1, 0xFFE5}         # ￠ ￡ ￥
    cps |= {0x2014, 0x2015, 0x2018, 0x2019, 0x201C, 0x201D, 0x2026, 0x00B7, 0x2022}
    for hi in range(0xA1, 0xF8):            # every valid GB2312 code point,
        for lo in range(0xA1, 0xFF):        # and what GBK puts in the same area
            for codec in ("gb2312", "gbk"):
                try:
                    s = bytes([hi, lo]).decode(codec)
                except UnicodeDecodeError:
                    continue
                cps.update(ord(c) for c in s if not 0xE000 <= ord(c) <= 0xF8FF)
    # GBK cells that Python maps to private use but WHATWG (browsers,
    # encoding_rs) to real characters: ḿ ǹ €, vertical punctuation.
    cps |= {0x1E3F, 0x01F9, 0x20AC} | set(range(0xFE10, 0xFE1A))
    return sorted(cps)


def to_truetype(font):
    """Replace the CFF outlines by quadratic glyf outlines."""
    order = font.getGlyphOrder()
    gs = font.getGlyphSet()
    glyphs = {}
    for name in order:
        pen = TTGlyphPen(gs)
        gs[name].draw(Cu2QuPen(pen, MAX_ERR, reverse_direction=True))
        glyphs[name] = pen.glyph()
    del font["CFF "]
    font["loca"] = newTable("loca")
    glyf = font["glyf"] = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = glyphs
    font["maxp"] = maxp = newTable("maxp")
    maxp.tableVersion = 0x00010000
    for attr in ("maxZones", "maxTwilightPoints", "maxStorage", "maxFunctionDefs",
                 "maxInstructionDefs", "maxStackElements", "maxSizeOfInstructions",
                 "maxComponentElements", "maxPoints", "maxContours",
                 "maxCompositePoints", "maxCompositeContours", "maxComponentDepth"):
        setattr(maxp, attr, 0)
    maxp.maxZones = 1
    maxp.numGlyphs = len(order)
    font["head"].glyphDataFormat = 0
    font["post"].formatType = 3.0  # no glyph names: smaller
    font.sfntVersion = "\x00\x01\x00\x00"
    font.recalcBBoxes = True


def main(src, out):
    cps = charset()
    with tempfile.TemporaryDirectory() as tmp:
        uni = f"{tmp}/unicodes.txt"
        with open(uni, "w") as f:
            f.write("\n".join(f"U+{cp:04X}" for cp in cps))
        sub = f"{tmp}/subset.otf"
        subprocess.run([
            sys.executable, "-m", "fontTools.subset", src,
            f"--font-number={SC_INDEX}", f"--unicodes-file={uni}",
            "--layout-features=", "--no-hinting", "--desubroutinize",
            "--drop-tables+=VORG,vhea,vmtx,BASE,GDEF,GPOS,GSUB,DSIG",
            "--name-IDs=*", "--name-languages=*", "--notdef-outline",
            f"--output-file={sub}",
        ], check=True)
        font = TTFont(sub, recalcTimestamp=False)  # reproducible: keep the source's head.modified
        to_truetype(font)
        font.save(out)
    font = TTFont(out)
    cmap = font.getBestCmap()
    missing = [cp for cp in cps if cp not in cmap]
    print(f"{out}: {len(font.getGlyphOrder())} glyphs, {len(cmap)} code points, "
          f"{len(missing)} requested but absent from the source: "
          + " ".join(f"U+{cp:04X}" for cp in missing))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
