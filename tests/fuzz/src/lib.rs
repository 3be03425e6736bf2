use std::path::Path;
use std::sync::OnceLock;

use kaohe_rulepacks::interp::Interpreter;
use kaohe_rulepacks::manifest::Manifest;

pub const RUBRIC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../rulepacks/baofeng-2022/rubric.toml"
);

pub fn interp() -> &'static Interpreter {
    static I: OnceLock<Interpreter> = OnceLock::new();
    I.get_or_init(|| {
        let r = kaohe_rulepacks::rubric::load(Path::new(RUBRIC)).expect("rubric loads");
        Interpreter::new(&r)
    })
}

pub fn manifest() -> &'static Manifest {
    interp().manifest()
}

/// The same rubric as an ABI 1 pack (`with_abi(ABI_V1)`): the records the
/// structured target writes by hand are ABI 1's.
pub fn interp_v1() -> &'static Interpreter {
    static I: OnceLock<Interpreter> = OnceLock::new();
    I.get_or_init(|| {
        let r = kaohe_rulepacks::rubric::load(Path::new(RUBRIC)).expect("rubric loads");
        Interpreter::new(&r.with_abi(kaohe_rulepacks::manifest::ABI_V1))
    })
}

/// Byte source that yields zeros once exhausted.
pub struct Src<'a> {
    pub d: &'a [u8],
    pub at: usize,
}

impl<'a> Src<'a> {
    pub fn new(d: &'a [u8]) -> Self {
        Src { d, at: 0 }
    }
    pub fn u8(&mut self) -> u8 {
        let b = self.d.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    pub fn i64(&mut self) -> i64 {
        let mut b = [0u8; 8];
        for x in &mut b {
            *x = self.u8();
        }
        i64::from_le_bytes(b)
    }
    /// A value biased toward small and boundary numbers.
    pub fn val(&mut self) -> i64 {
        match self.u8() % 8 {
            0 => 0,
            1 => i64::from(self.u8()),
            2 => i64::from(self.u8()) * 100,
            3 => i64::from(self.u32() as u16),
            4 => -(i64::from(self.u8())),
            5 => [
                i64::MIN,
                i64::MAX,
                i64::MIN + 1,
                i64::MAX - 1,
                10000,
                100,
                1,
            ][self.u8() as usize % 7],
            _ => self.i64(),
        }
    }
}

pub mod node {
    use std::collections::{BTreeMap, BTreeSet};
    use std::io::{Cursor, Read as _, Write as _};
    use std::sync::OnceLock;

    use kaohe_node::layout::Layout;
    use kaohe_node::store::{Scope, UnitInfo};

    fn unit(id: &str, name: &str, cat: &str) -> UnitInfo {
        UnitInfo {
            unit_id: id.into(),
            name: name.into(),
            category_id: cat.into(),
            parent_id: None,
            supervising_dept: None,
        }
    }

    pub fn scope() -> &'static Scope {
        static S: OnceLock<Scope> = OnceLock::new();
        S.get_or_init(|| Scope {
            year: 2022,
            units: vec![
                unit("justice", "县司法局", "government_department"),
                unit("xiaodian", "肖旗乡", "township"),
                unit("court", "县法院", "court_procuratorate"),
            ],
            methods: vec![
                "daily".into(),
                "file_review".into(),
                "online_check".into(),
                "supervision".into(),
            ],
        })
    }

    pub fn layout() -> &'static Layout<'static> {
        static L: OnceLock<Layout<'static>> = OnceLock::new();
        L.get_or_init(|| Layout::new(crate::manifest(), scope()).expect("layout"))
    }

    pub fn known() -> &'static BTreeSet<String> {
        static K: OnceLock<BTreeSet<String>> = OnceLock::new();
        K.get_or_init(|| {
            ["justice", "xiaodian", "court", "old"]
                .iter()
                .map(|s| s.to_string())
                .collect()
        })
    }

    pub fn template_xlsx() -> Vec<u8> {
        kaohe_node::template::xlsx(layout(), &BTreeMap::new()).expect("template")
    }

    pub fn template_csv() -> Vec<u8> {
        kaohe_node::template::csv(layout(), &BTreeMap::new(), Default::default()).expect("csv")
    }

    /// The template's parts, uncompressed.
    pub fn parts() -> &'static Vec<(String, Vec<u8>)> {
        static P: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
        P.get_or_init(|| {
            let x = template_xlsx();
            let mut a = zip::ZipArchive::new(Cursor::new(x)).unwrap();
            (0..a.len())
                .map(|i| {
                    let mut f = a.by_index(i).unwrap();
                    let mut b = Vec::new();
                    f.read_to_end(&mut b).unwrap();
                    (f.name().unwrap().into_owned(), b)
                })
                .collect()
        })
    }

    /// A valid (stored, correct CRC) xlsx with part `which` replaced by `body`.
    pub fn xlsx_with(which: usize, body: &[u8]) -> Vec<u8> {
        let parts = parts();
        let which = which % parts.len();
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let opt = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (i, (name, data)) in parts.iter().enumerate() {
            w.start_file(name.as_str(), opt).unwrap();
            w.write_all(if i == which { body } else { data }).unwrap();
        }
        w.finish().unwrap().into_inner()
    }
}
