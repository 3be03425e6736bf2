//! CSV: the text encoding Chinese Excel wrote, then the records at their lines.

use std::borrow::Cow;

use super::{Cell, Grid, Limits, ReadError, TextEncoding};

/// BOM → UTF-8; valid UTF-8 → UTF-8; otherwise GB18030 (a superset of GBK).
pub fn decode_text(bytes: &[u8]) -> Result<(Cow<'_, str>, TextEncoding), ReadError> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return std::str::from_utf8(rest)
            .map(|s| (Cow::Borrowed(s), TextEncoding::Utf8Bom))
            .map_err(|_| ReadError::Encoding);
    }
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(ReadError::Utf16);
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok((Cow::Borrowed(s), TextEncoding::Utf8));
    }
    encoding_rs::GB18030
        .decode_without_bom_handling_and_without_replacement(bytes)
        .map(|s| (s, TextEncoding::Gb18030))
        .ok_or(ReadError::Encoding)
}

pub(super) fn read(text: &str, limits: &Limits) -> Result<Grid, ReadError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    // Records are placed at their line (blank lines are skipped by the
    // reader, and a quoted field may span lines), so row numbers in
    // messages are the lines an editor shows.
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| ReadError::Csv {
            row: e.position().map_or(i + 1, |p| p.line() as usize),
            detail: e.to_string(),
        })?;
        // The reader's position is where it started reading, before any
        // blank lines it skipped: count those to get the record's own line.
        let line = record.position().map_or(i + 1, |p| {
            let start = usize::try_from(p.byte()).unwrap_or(usize::MAX);
            let skipped = text
                .get(start..)
                .unwrap_or("")
                .bytes()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .filter(|&b| b == b'\n')
                .count();
            p.line() as usize + skipped
        });
        let line = line.max(1);
        if line > limits.max_rows {
            return Err(ReadError::TooManyRows {
                rows: line,
                max: limits.max_rows,
            });
        }
        let mut row: Vec<Cell> = record
            .iter()
            .map(|s| {
                if s.is_empty() {
                    Cell::Empty
                } else {
                    Cell::Text(s.to_string())
                }
            })
            .collect();
        if row.len() == 1 && row[0].is_empty() {
            row.clear();
        }
        if rows.len() < line - 1 {
            rows.resize(line - 1, Vec::new());
        }
        rows.push(row);
    }
    Ok(Grid {
        sheet: None,
        rows,
        merged: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Format, read as read_file};
    use super::*;

    #[test]
    fn encodings_are_detected_bom_then_utf8_then_gb18030() {
        let text = "单位编号,法治专题学习次数（次）\n";
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(text.as_bytes());
        let (s, e) = decode_text(&bom).unwrap();
        assert_eq!((s.as_ref(), e), (text, TextEncoding::Utf8Bom));
        let (s, e) = decode_text(text.as_bytes()).unwrap();
        assert_eq!((s.as_ref(), e), (text, TextEncoding::Utf8));
        let (gbk, _, _) = encoding_rs::GB18030.encode(text);
        assert!(
            std::str::from_utf8(&gbk).is_err(),
            "the GB18030 bytes must not be valid UTF-8"
        );
        let (s, e) = decode_text(&gbk).unwrap();
        assert_eq!((s.as_ref(), e), (text, TextEncoding::Gb18030));
        assert_eq!(decode_text(b"\xFF\xFEa\x00").unwrap_err(), ReadError::Utf16);
        assert_eq!(
            decode_text(b"\x81\x20\x81\x20").unwrap_err(),
            ReadError::Encoding
        );
    }

    #[test]
    fn csv_rows_keep_their_own_length() {
        let wb = read_file(
            "a,b,c\n1,2\n\n4,5,6,7\n".as_bytes(),
            Format::Csv,
            &Limits::default(),
        )
        .unwrap();
        let lens: Vec<_> = wb.grids[0].rows.iter().map(Vec::len).collect();
        assert_eq!(lens, vec![3, 2, 0, 4]);
    }

    #[test]
    fn records_after_blank_lines_keep_the_line_an_editor_shows() {
        let wb = read_file(
            "a,b\n\n\n\"x\ny\",z\nlast,row\n".as_bytes(),
            Format::Csv,
            &Limits::default(),
        )
        .unwrap();
        let grid = &wb.grids[0];
        assert_eq!(grid.cell(3, 1), &Cell::Text("z".into()));
        assert_eq!(grid.cell(5, 0), &Cell::Text("last".into()));
    }
}
