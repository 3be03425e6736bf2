#![no_main]
use kaohe_fuzz::{interp, manifest};
use kaohe_rulepacks::abi::{self, FinaliseInput, UnitInput};
use kaohe_rulepacks::manifest::Round;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fn put(dir: &str, name: &str, bytes: &[u8]) {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(dir);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(name), bytes).unwrap();
}

fn generate() {
    let m = manifest();
    put("manifest_json", "baofeng2022.json", &m.to_canonical_json());
    for (i, p) in [
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../rulepacks/baofeng-2023/rubric.toml"
        ),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../rulepacks/tests/data/mini/rubric.toml"
        ),
    ]
    .iter()
    .enumerate()
    {
        if let Ok(r) = kaohe_rulepacks::rubric::load(Path::new(p)) {
            put(
                "manifest_json",
                &format!("other{i}.json"),
                &r.manifest.to_canonical_json(),
            );
        }
    }
    let mask = m.all_methods_mask();
    let mut units = Vec::new();
    for c in 0..m.categories.len().min(4) {
        for round in [Round::Annual, Round::Q1] {
            units.push(UnitInput {
                category: c as u32,
                round,
                methods: mask,
                values: m
                    .fields
                    .iter()
                    .map(|f| (0..i64::MAX).find(|&v| f.accepts(v)))
                    .collect(),
            });
        }
    }
    for n in 1..=4 {
        let ev = abi::encode_evaluate_input(m, &units[..n]).unwrap();
        let mut b = vec![8 * 0u8]; // selector 0
        b.extend_from_slice(&ev);
        put("interp_bytes", &format!("ev{n}"), &b);
        let mut b = vec![2u8];
        b.extend_from_slice(&ev);
        put("interp_bytes", &format!("dev{n}"), &b);
        let out = interp().evaluate_bytes(&ev).unwrap();
        let mut b = vec![4u8 + 8 * n as u8];
        b.extend_from_slice(&out);
        put("interp_bytes", &format!("eout{n}"), &b);
        let outs = interp().evaluate(&units[..n]);
        let fin: Vec<FinaliseInput> = outs
            .iter()
            .zip(&units)
            .map(|(o, u)| FinaliseInput {
                category: u.category,
                penalty_cap_override: None,
                scores: o.indicators.clone(),
            })
            .collect();
        let fi = abi::encode_finalise_input(m, &fin).unwrap();
        let mut b = vec![1u8];
        b.extend_from_slice(&fi);
        put("interp_bytes", &format!("fi{n}"), &b);
        let mut b = vec![3u8];
        b.extend_from_slice(&fi);
        put("interp_bytes", &format!("dfi{n}"), &b);
        let fo = interp().finalise_bytes(&fi).unwrap();
        let mut b = vec![5u8 + 8 * n as u8];
        b.extend_from_slice(&fo);
        put("interp_bytes", &format!("fout{n}"), &b);
    }
    for p in [
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../rulepacks/baofeng-2022/rubric.toml"
        ),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../rulepacks/baofeng-2023/rubric.toml"
        ),
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../rulepacks/tests/data/mini/rubric.toml"
        ),
    ] {
        let t = std::fs::read(p).unwrap();
        put("rubric_compile", &p.replace('/', "_"), &t);
    }
    for e in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/node")).unwrap() {
        let e = e.unwrap();
        put(
            "node_config",
            &e.file_name().to_string_lossy(),
            &std::fs::read(e.path()).unwrap(),
        );
    }
    let x = kaohe_fuzz::node::template_xlsx();
    let mut b = vec![1u8];
    b.extend_from_slice(&x);
    put("node_workbook", "template.xlsx", &b);
    let c = kaohe_fuzz::node::template_csv();
    let mut b = vec![0u8];
    b.extend_from_slice(&c);
    put("node_workbook", "template.csv", &b);
    for (i, (name, body)) in kaohe_fuzz::node::parts().iter().enumerate() {
        let sel = if name.contains("worksheets/sheet") {
            2u8
        } else {
            3u8 + 4 * i as u8
        };
        let mut b = vec![sel];
        b.extend_from_slice(body);
        put("node_workbook", &format!("part{i}"), &b);
    }
    let key = kaohe_proto::SigningKeyPair::from_seed(&[7u8; 32]);
    let env = kaohe_proto::Envelope::sign(
        "application/vnd.kaohe.submission+protobuf",
        b"hello".to_vec(),
        &[&key],
    );
    let mut b = vec![0u8];
    b.extend_from_slice(&env.to_protobuf());
    put("proto_decode", "env", &b);
    let mut b = vec![5u8];
    b.extend_from_slice(key.public().to_string().as_bytes());
    put("proto_decode", "pk", &b);
}

fuzz_target!(|_data: &[u8]| {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(generate);
});
