//! `kaohe hub units import` through the real binary, with the workbooks
//! that once got past the hub's own reader: a formula whose cached value
//! is whatever the author wrote, a hidden first sheet holding another
//! roster (it replaced the visible one and deleted three units), and a zip
//! part that inflates past the size it declares. Each import is all or
//! nothing: a refused file names sheet, row and column (or the part) and
//! leaves the stored roster exactly as it was.

use std::io::{Cursor, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::Output;

use rust_xlsxwriter::{Formula, Workbook, Worksheet};

use crate::{kaohe, path_str, stderr, stdout};

const HEADER: [&str; 6] = [
    "单位编号",
    "单位名称",
    "类别",
    "上级单位",
    "主管部门",
    "考核主体",
];

/// The roster the hub holds before each refused import: five units, the
/// village under its township, the hospital under the health commission.
const ROSTER: [[&str; 6]; 5] = [
    ["t1", "肖旗乡", "township", "", "", "依法治县办"],
    ["t1v1", "肖旗村", "village", "t1", "", "t1"],
    ["wjw", "县卫健委", "department", "", "", "依法治县办"],
    ["h1", "县人民医院", "hospital", "wjw", "", "卫健委"],
    [
        "gt",
        "县供电公司",
        "stationed_enterprise",
        "",
        "市供电公司",
        "国资局",
    ],
];

/// A hub data directory with the 2024 roster [`ROSTER`] imported from CSV.
struct Hub {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Hub {
    fn new() -> Hub {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("hub");
        let hub = Hub { _tmp: tmp, dir };
        let o = hub.run(&["init"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let csv = hub.dir.join("名册.csv");
        let mut text = HEADER.join(",");
        for row in ROSTER {
            text.push('\n');
            text.push_str(&row.join(","));
        }
        std::fs::write(&csv, text).unwrap();
        let o = hub.import(&csv);
        assert!(o.status.success(), "{}", stderr(&o));
        hub
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut all = vec![
            "hub",
            "--data-dir",
            path_str(&self.dir),
            "--operator",
            "县依法治县办测试员",
        ];
        all.extend_from_slice(args);
        kaohe(&all)
    }

    fn import(&self, file: &Path) -> Output {
        self.run(&["units", "import", path_str(file), "--year", "2024"])
    }

    /// The stored 2024 roster, read-only: (id, name, parent) by id.
    fn roster(&self) -> Vec<(String, String, Option<String>)> {
        let conn = rusqlite::Connection::open_with_flags(
            self.dir.join("hub.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        let mut stmt = conn
            .prepare("SELECT id, name, parent_id FROM units WHERE year = 2024 ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// Imports `file`, which must be refused with every one of `needles`
    /// in the message, the roster left as it was.
    fn refused(&self, file: &Path, needles: &[&str]) {
        let before = self.roster();
        assert_eq!(before.len(), ROSTER.len());
        let o = self.import(file);
        let err = stderr(&o);
        assert!(!o.status.success(), "accepted:\n{}", stdout(&o));
        for n in needles {
            assert!(err.contains(n), "{n:?} missing from\n{err}");
        }
        assert_eq!(self.roster(), before, "a refused import changed the roster");
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

/// Writes `rows` under the header, from row 1 of `ws`.
fn fill(ws: &mut Worksheet, rows: &[[&str; 6]]) {
    for (c, h) in HEADER.iter().enumerate() {
        ws.write_string(0, c as u16, *h).unwrap();
    }
    for (r, row) in rows.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            if !v.is_empty() {
                ws.write_string(r as u32 + 1, c as u16, *v).unwrap();
            }
        }
    }
}

/// The roster with one name changed, so an accepted import shows it was read.
fn renamed_roster() -> Vec<[&'static str; 6]> {
    let mut rows = ROSTER.to_vec();
    rows[0][1] = "肖旗镇";
    rows
}

/// A formula's cached value was taken as the cell's value. Now the file is
/// refused at the formula's cell; the roster stays.
#[test]
fn units_import_refuses_a_formula_cell_and_keeps_the_roster() {
    let hub = Hub::new();
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    ws.set_name("名册").unwrap();
    fill(ws, &renamed_roster());
    // The village's parent, computed: the cached value says "t1".
    ws.write_formula(2, 3, Formula::new("=LEFT(\"t1x\",2)").set_result("t1"))
        .unwrap();
    let file = hub.write("名册-公式.xlsx", &book.save_to_buffer().unwrap());
    hub.refused(
        &file,
        &[
            "导入单位名册",
            "工作表「名册」第3行D列「上级单位」",
            "单元格是公式 =LEFT(\"t1x\",2)",
            "未写入任何数据",
        ],
    );
}

/// A hidden first sheet holding an old roster of two units replaced the
/// visible roster of five (three deleted). Now the hidden sheet is never
/// read: the visible roster is imported, and the output says what was
/// skipped. A second visible sheet, which may be the rest of the roster, is
/// refused.
#[test]
fn units_import_never_reads_a_hidden_first_sheet() {
    let hub = Hub::new();
    let mut book = Workbook::new();
    let old = book.add_worksheet();
    old.set_name("旧名册").unwrap();
    fill(old, &[ROSTER[0], ROSTER[2]]);
    old.set_hidden(true);
    let shown = book.add_worksheet();
    shown.set_name("名册").unwrap();
    fill(shown, &renamed_roster());
    shown.set_active(true);
    let file = hub.write("名册-隐藏.xlsx", &book.save_to_buffer().unwrap());
    let o = hub.import(&file);
    let out = stdout(&o);
    assert!(o.status.success(), "{}\n{}", out, stderr(&o));
    assert!(out.contains("共 5 个单位"), "{out}");
    assert!(out.contains("删除 0"), "{out}");
    assert!(
        out.contains("隐藏的工作表未读取（hidden sheets not read）：「旧名册」"),
        "{out}"
    );
    let roster = hub.roster();
    assert_eq!(roster.len(), 5, "{roster:?}");
    assert!(
        roster.contains(&("t1".into(), "肖旗镇".into(), None)),
        "{roster:?}"
    );

    let mut book = Workbook::new();
    let towns = book.add_worksheet();
    towns.set_name("乡镇").unwrap();
    fill(towns, &ROSTER[..2]);
    let county = book.add_worksheet();
    county.set_name("县直").unwrap();
    fill(county, &ROSTER[2..]);
    let file = hub.write("名册-两表.xlsx", &book.save_to_buffer().unwrap());
    hub.refused(&file, &["除「乡镇」外还有可见的工作表「县直」"]);
}

/// The hub checked only the sizes a zip declares. A worksheet part that
/// inflates past its declared size is refused before the workbook is parsed.
#[test]
fn units_import_refuses_a_zip_part_inflating_past_its_declared_size() {
    let hub = Hub::new();
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    ws.set_name("名册").unwrap();
    fill(ws, &renamed_roster());
    let bytes = lying_sheet_part(&book.save_to_buffer().unwrap(), 100);
    let file = hub.write("名册-炸弹.xlsx", &bytes);
    hub.refused(
        &file,
        &[
            "部件 xl/worksheets/sheet1.xml 解压后大于其声明的 100 字节",
            "已拒绝",
        ],
    );
}

/// `xlsx` repacked with its first worksheet first and deflated, that part's
/// declared uncompressed size lowered to `declared` in its local header and
/// its central directory record (the zip crate writes true sizes; the lie
/// is patched into the bytes).
fn lying_sheet_part(xlsx: &[u8], declared: u32) -> Vec<u8> {
    const SHEET: &str = "xl/worksheets/sheet1.xml";
    let mut archive = zip::ZipArchive::new(Cursor::new(xlsx)).unwrap();
    let mut parts = Vec::new();
    for i in 0..archive.len() {
        let mut part = archive.by_index(i).unwrap();
        let name = part.name().unwrap().into_owned();
        let mut content = Vec::new();
        part.read_to_end(&mut content).unwrap();
        parts.push((name, content));
    }
    parts.sort_by_key(|(name, _)| name != SHEET);
    assert_eq!(parts[0].0, SHEET);
    assert!(parts[0].1.len() > declared as usize);
    let mut out = Cursor::new(Vec::new());
    {
        let mut w = zip::ZipWriter::new(&mut out);
        let deflated = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (name, content) in &parts {
            w.start_file(name.as_str(), deflated).unwrap();
            w.write_all(content).unwrap();
        }
        w.finish().unwrap();
    }
    let mut bytes = out.into_inner();
    let lie = declared.to_le_bytes();
    // The sheet's local header is the first (offset 22: uncompressed size),
    // and so is its central directory record (offset 24).
    assert_eq!(&bytes[..4], b"PK\x03\x04");
    bytes[22..26].copy_from_slice(&lie);
    let cd = bytes
        .windows(4)
        .position(|w| w == b"PK\x01\x02")
        .expect("central directory");
    bytes[cd + 24..cd + 28].copy_from_slice(&lie);
    bytes
}
