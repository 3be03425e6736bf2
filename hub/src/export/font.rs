//! 字体（font）：the CJK font the PDF is set in — metrics, coverage, and its
//! embedding as a subset Type0/CIDFontType2 font with a ToUnicode CMap.
//!
//! The project carries its own font (`hub/assets/fonts/`, see the README
//! there) so that a fresh machine renders Chinese with nothing installed; a
//! county with licensed 仿宋/小标宋 passes its own TrueType file instead.
//! Either way a character the font lacks fails the export by name: a PDF
//! with blank boxes in a published notice is worse than no PDF.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Filter, Finish, Name, Pdf, Rect, Ref, Str};
use sha2::{Digest, Sha256};
use ttf_parser::{Face, GlyphId};

use super::ExportError;

/// Noto Serif CJK SC, subset to GB2312 + ASCII + CJK punctuation + full-width
/// forms, TrueType outlines (SIL Open Font License 1.1).
pub const EMBEDDED_FONT: &[u8] = include_bytes!("../../assets/fonts/NotoSerifCJKsc-GB2312.ttf");
/// What the embedded font is called in messages.
pub const EMBEDDED_FONT_NAME: &str = "内置字体 Noto Serif CJK SC（GB2312 子集）";

/// Larger font files are refused before parsing.
const MAX_FONT_BYTES: u64 = 64 * 1024 * 1024;

/// The bytes of a font file and where they came from.
#[derive(Debug)]
pub(crate) struct FontData {
    bytes: Cow<'static, [u8]>,
    /// `内置字体…` or the path, for messages.
    pub(crate) source: String,
}

impl FontData {
    /// The embedded font, or the file at `path`.
    pub(crate) fn load(path: Option<&Path>) -> Result<FontData, ExportError> {
        let Some(path) = path else {
            return Ok(FontData {
                bytes: Cow::Borrowed(EMBEDDED_FONT),
                source: EMBEDDED_FONT_NAME.to_string(),
            });
        };
        let source = path.display().to_string();
        let read_err = |e: std::io::Error| ExportError::ReadFont {
            path: source.clone(),
            source: e,
        };
        let size = std::fs::metadata(path).map_err(read_err)?.len();
        if size > MAX_FONT_BYTES {
            return Err(ExportError::Font {
                font: source,
                detail: format!("文件有 {size} 字节，超过上限 {MAX_FONT_BYTES} 字节"),
            });
        }
        let bytes = std::fs::read(path).map_err(read_err)?;
        Ok(FontData {
            bytes: Cow::Owned(bytes),
            source,
        })
    }
}

/// A parsed font ready to measure text and be embedded.
pub(crate) struct Font<'a> {
    face: Face<'a>,
    data: &'a [u8],
    /// Face index in a collection (`.ttc`): the first face.
    index: u32,
    units_per_em: f32,
    pub(crate) source: &'a str,
}

impl<'a> Font<'a> {
    pub(crate) fn parse(font: &'a FontData) -> Result<Font<'a>, ExportError> {
        let bad = |detail: String| ExportError::Font {
            font: font.source.clone(),
            detail,
        };
        let data: &[u8] = &font.bytes;
        let index = 0;
        let face = Face::parse(data, index)
            .map_err(|e| bad(format!("不是可用的 TrueType/OpenType 字体（{e}）")))?;
        if face.tables().glyf.is_none() {
            return Err(bad(
                "不是 TrueType（glyf）轮廓字体；CFF/OTF 字体请先转换为 TrueType \
                 （见 hub/assets/fonts/README.md）"
                    .to_string(),
            ));
        }
        let units_per_em = f32::from(face.units_per_em());
        Ok(Font {
            face,
            data,
            index,
            units_per_em,
            source: &font.source,
        })
    }

    /// The glyph of `c`, if the font has one (glyph 0 is `.notdef`: none).
    pub(crate) fn glyph(&self, c: char) -> Option<u16> {
        self.face.glyph_index(c).map(|g| g.0).filter(|&g| g != 0)
    }

    /// Advance of `c` in ems (0 for a character the font lacks).
    pub(crate) fn advance(&self, c: char) -> f32 {
        self.glyph(c)
            .and_then(|g| self.face.glyph_hor_advance(GlyphId(g)))
            .map_or(0.0, |a| f32::from(a) / self.units_per_em)
    }

    /// Width of `text` at `size` points.
    pub(crate) fn width(&self, text: &str, size: f32) -> f32 {
        text.chars().map(|c| self.advance(c)).sum::<f32>() * size
    }

    /// Fails naming the first character of `text` the font lacks and
    /// `location`, where it was to be printed.
    pub(crate) fn check(
        &self,
        text: &str,
        location: &dyn Fn() -> String,
    ) -> Result<(), ExportError> {
        match text.chars().find(|&c| self.glyph(c).is_none()) {
            None => Ok(()),
            Some(ch) => Err(ExportError::MissingGlyph {
                ch,
                location: location(),
                font: self.source.to_string(),
            }),
        }
    }

    /// Ascender and descender in ems (descender negative).
    pub(crate) fn ascender(&self) -> f32 {
        f32::from(self.face.ascender()) / self.units_per_em
    }

    fn descender(&self) -> f32 {
        f32::from(self.face.descender()) / self.units_per_em
    }

    /// Writes the font for the characters `chars` into `pdf` as a subset
    /// Type0 font under `type0` (using the next refs from `next_ref`) and
    /// returns the CID of each character.
    ///
    /// Each distinct character gets its own CID (a CIDToGIDMap stream maps
    /// CIDs to glyphs), so two characters drawn with one glyph still extract
    /// as themselves through the ToUnicode CMap.
    pub(crate) fn embed(
        &self,
        pdf: &mut Pdf,
        type0: Ref,
        next_ref: &mut impl FnMut() -> Ref,
        chars: impl IntoIterator<Item = char>,
    ) -> Result<BTreeMap<char, u16>, ExportError> {
        let mut remapper = subsetter::GlyphRemapper::new();
        let mut cids = BTreeMap::new();
        let mut cid_to_gid: Vec<u16> = vec![0]; // CID 0 → .notdef
        let mut widths = Vec::new();
        for c in chars {
            if cids.contains_key(&c) {
                continue;
            }
            let glyph = self.glyph(c).ok_or_else(|| ExportError::MissingGlyph {
                ch: c,
                location: "字体嵌入".to_string(),
                font: self.source.to_string(),
            })?;
            let cid = u16::try_from(cid_to_gid.len()).map_err(|_| ExportError::Font {
                font: self.source.to_string(),
                detail: "文档使用的不同字符超过 65535 个".to_string(),
            })?;
            cids.insert(c, cid);
            cid_to_gid.push(remapper.remap(glyph));
            widths.push(self.advance(c) * 1000.0);
        }
        let subset =
            subsetter::subset(self.data, self.index, &remapper).map_err(|e| ExportError::Font {
                font: self.source.to_string(),
                detail: format!("无法生成字体子集（{e}）"),
            })?;

        let base_font = format!("{}+{}", subset_tag(&cids), self.postscript_name());
        let cid_font = next_ref();
        let descriptor = next_ref();
        let font_file = next_ref();
        let to_unicode = next_ref();
        let cid_map = next_ref();

        pdf.type0_font(type0)
            .base_font(Name(base_font.as_bytes()))
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(cid_font)
            .to_unicode(to_unicode);

        let system_info = SystemInfo {
            registry: Str(b"Adobe"),
            ordering: Str(b"Identity"),
            supplement: 0,
        };
        let mut cid = pdf.cid_font(cid_font);
        cid.subtype(CidFontType::Type2)
            .base_font(Name(base_font.as_bytes()))
            .system_info(system_info)
            .font_descriptor(descriptor)
            .default_width(1000.0)
            .cid_to_gid_map_stream(cid_map);
        cid.widths().consecutive(1, widths);
        cid.finish();

        let bbox = self.face.global_bounding_box();
        let em = |v: i16| f32::from(v) * 1000.0 / self.units_per_em;
        pdf.font_descriptor(descriptor)
            .name(Name(base_font.as_bytes()))
            .flags(FontFlags::SYMBOLIC)
            .bbox(Rect::new(
                em(bbox.x_min),
                em(bbox.y_min),
                em(bbox.x_max),
                em(bbox.y_max),
            ))
            .italic_angle(0.0)
            .ascent(self.ascender() * 1000.0)
            .descent(self.descender() * 1000.0)
            .cap_height(self.face.capital_height().map_or(700.0, em))
            .stem_v(80.0)
            .font_file2(font_file);

        let compressed = deflate(&subset);
        pdf.stream(font_file, &compressed)
            .filter(Filter::FlateDecode)
            .pair(Name(b"Length1"), subset.len() as i32);

        let map: Vec<u8> = cid_to_gid.iter().flat_map(|g| g.to_be_bytes()).collect();
        pdf.stream(cid_map, &deflate(&map))
            .filter(Filter::FlateDecode);

        let mut cmap = UnicodeCmap::new(Name(b"Adobe-Identity-UCS"), system_info);
        for (&c, &cid) in &cids {
            cmap.pair(cid, c);
        }
        let cmap = cmap.finish();
        pdf.cmap(to_unicode, &deflate(&cmap))
            .filter(Filter::FlateDecode);
        Ok(cids)
    }

    /// The PostScript name (name ID 6), or a neutral one; only characters a
    /// PDF name may hold unescaped.
    fn postscript_name(&self) -> String {
        let name = self
            .face
            .names()
            .into_iter()
            .filter(|n| n.name_id == ttf_parser::name_id::POST_SCRIPT_NAME)
            .find_map(|n| n.to_string())
            .unwrap_or_default();
        let name: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .take(60)
            .collect();
        if name.is_empty() {
            "KaoheFont".to_string()
        } else {
            name
        }
    }
}

/// Six capital letters naming the subset, derived from its characters
/// (same document, same tag: the PDF's bytes are reproducible).
fn subset_tag(cids: &BTreeMap<char, u16>) -> String {
    let mut hash = Sha256::new();
    for c in cids.keys() {
        hash.update(u32::from(*c).to_be_bytes());
    }
    hash.finalize()
        .iter()
        .take(6)
        .map(|b| char::from(b'A' + b % 26))
        .collect()
}

pub(crate) fn deflate(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    enc.write_all(data).expect("write to Vec");
    enc.finish().expect("write to Vec")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character GBK places in the GB2312 area (rows A1–F7, cells
    /// A1–FE): the 7,445 of GB2312 and a few GBK additions, decoded
    /// independently of the font and of the script that built it
    /// (encoding_rs, not Python). Private-use cells are not characters.
    fn gb2312_area_chars() -> Vec<char> {
        let mut chars = Vec::new();
        for hi in 0xA1u8..=0xF7 {
            for lo in 0xA1u8..=0xFE {
                let bytes = [hi, lo];
                let (text, _, had_errors) = encoding_rs::GBK.decode(&bytes);
                let c = text.chars().next().expect("one char");
                if !had_errors && !('\u{E000}'..='\u{F8FF}').contains(&c) {
                    chars.push(c);
                }
            }
        }
        chars
    }

    #[test]
    fn embedded_font_covers_gb2312_ascii_and_fullwidth_forms() {
        let data = FontData::load(None).unwrap();
        let font = Font::parse(&data).unwrap();
        let gb = gb2312_area_chars();
        assert!(gb.len() >= 7445, "{} characters", gb.len());
        let hanzi = gb
            .iter()
            .filter(|c| ('\u{4E00}'..='\u{9FFF}').contains(*c))
            .count();
        assert_eq!(hanzi, 6763, "GB2312 has 6,763 hanzi");
        let missing: String = gb
            .iter()
            .chain(&(' '..='~').collect::<Vec<_>>())
            .chain(&('！'..='～').collect::<Vec<_>>())
            .chain(&[
                '　', '、', '。', '〔', '〕', '《', '》', '「', '」', '【', '】', '“', '”',
            ])
            .filter(|c| font.glyph(**c).is_none())
            .collect();
        assert_eq!(missing, "", "characters the embedded font lacks");
        assert!(font.glyph('𠀀').is_none());
    }

    #[test]
    fn cjk_characters_are_one_em_and_ascii_narrower() {
        let data = FontData::load(None).unwrap();
        let font = Font::parse(&data).unwrap();
        assert_eq!(font.width("考核结果", 16.0), 64.0);
        let digit = font.advance('1');
        assert!(digit > 0.3 && digit < 0.7, "digit advance {digit}");
    }

    #[test]
    fn a_file_that_is_not_a_font_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("仿宋.ttf");
        std::fs::write(&path, b"not a font at all").unwrap();
        let data = FontData::load(Some(&path)).unwrap();
        let Err(err) = Font::parse(&data) else {
            panic!("refused")
        };
        let err = err.to_string();
        assert!(err.contains("仿宋.ttf"), "{err}");
        assert!(err.contains("不是可用的"), "{err}");
        let err = FontData::load(Some(&dir.path().join("无此文件.ttf")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("无此文件.ttf"), "{err}");
    }
}
