//! The demo's proof bundles through `kaohe verify`, with the keys an
//! outsider would be handed (the hub's, the two authorities', the five
//! nodes' as witnesses): every bundle of both years verifies; a bundle with
//! one byte changed is refused; and bundles exported again from copies of
//! the hub's database — a score changed after the approval (the hub then
//! refuses to export; reopened and approved again, the bundle is refused by
//! the recomputation), two leaves
//! swapped, a node's logged scope rewritten with the whole tree recomputed
//! — are each refused with what does not hold.

use std::path::{Path, PathBuf};

use kaohe_proto::SigningKeyPair;
use kaohe_proto::tlog::leaf::Leaf;

use super::YEARS;
use crate::federation::tamper::{copy_dir, rewrite_log};
use crate::{kaohe, kaohe_ok, path_str as s, stdout};

/// The public key of a key file the demo wrote.
fn public(path: &Path) -> String {
    SigningKeyPair::load(path)
        .unwrap_or_else(|e| panic!("读取密钥 {}：{e}", path.display()))
        .public()
        .to_string()
}

fn key_files(dir: &Path, name: Option<&str>) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| match name {
            Some(n) => p.join(n),
            None => p,
        })
        .filter(|p| p.extension().is_some_and(|e| e == "key"))
        .collect();
    out.sort();
    out
}

/// `--hub … --authority … --witnesses 3-of …` for the demo's keys.
fn policy(dir: &Path) -> Vec<String> {
    let mut args = vec!["--hub".to_owned(), public(&dir.join("hub/hub-receipt.key"))];
    for key in key_files(&dir.join("authority"), None) {
        args.extend(["--authority".to_owned(), public(&key)]);
    }
    let witnesses = key_files(&dir.join("nodes"), Some("node.key"));
    assert_eq!(witnesses.len(), 5, "{witnesses:?}");
    args.push("--witnesses".to_owned());
    args.push("3-of".to_owned());
    args.extend(witnesses.iter().map(|k| public(k)));
    args
}

fn bundles(exports: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(exports.join("proofs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    out.sort();
    out
}

/// `kaohe verify <bundles> <policy>`: (success, stdout + stderr).
fn verify(bundles: &[PathBuf], policy: &[String]) -> (bool, String) {
    let mut args: Vec<&str> = vec!["verify"];
    args.extend(bundles.iter().map(|b| s(b)));
    args.extend(policy.iter().map(String::as_str));
    let o = kaohe(&args);
    (
        o.status.success(),
        format!("{}{}", stdout(&o), String::from_utf8_lossy(&o.stderr)),
    )
}

fn refused(bundle: &Path, policy: &[String], expect: &str) {
    let (ok, text) = verify(&[bundle.to_path_buf()], policy);
    assert!(
        !ok && text.contains("核验未通过") && text.contains(expect),
        "篡改后的证明包应被拒绝并说明「{expect}」（a tampered bundle must be refused）：\n{text}"
    );
}

/// Everything above, on the demo in `dir` (its hub stopped).
pub fn check(dir: &Path, demo_output: &str) {
    for needle in [
        // The unit by its whole name (it has parentheses of its own).
        "用 kaohe verify 离线核验「宝丰县观音堂林业生态旅游示范区（示例数据）」的证明包：核验通过。",
        "5 个受信见证节点副署",
    ] {
        assert!(
            demo_output.contains(needle),
            "演示输出缺少「{needle}」：\n{demo_output}"
        );
    }
    let policy = policy(dir);
    for year in YEARS {
        let all = bundles(&dir.join(format!("exports-{year}")));
        assert_eq!(all.len(), 39, "{year}: one bundle per unit");
        let (ok, text) = verify(&all, &policy);
        assert!(ok, "{year} 年的证明包应全部通过核验：\n{text}");
        assert_eq!(
            text.matches("核验通过（verified）").count(),
            all.len(),
            "{text}"
        );
    }

    // One byte changed, anywhere: in the JSON's form, in a leaf, in an
    // envelope, in a proof hash.
    let czj = dir.join("exports-2022/proofs/czj.json");
    let bytes = std::fs::read(&czj).unwrap();
    let text = String::from_utf8(bytes.clone()).unwrap();
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in the bundle"))
            + needle.len()
    };
    let changed_dir = dir.join("tampered-bytes");
    std::fs::create_dir_all(&changed_dir).unwrap();
    for (name, pos, flip) in [
        ("form", at("{\n"), b' ' ^ b'\t'),
        ("leaf", at("\"operator\": \""), 1),
        ("envelope", at("\"envelopes\": [\n    \""), 1),
        ("proof", at("\"proof\": [\n        \""), 1),
    ] {
        let mut b = bytes.clone();
        b[pos] ^= flip;
        let path = changed_dir.join(format!("czj-{name}.json"));
        std::fs::write(&path, b).unwrap();
        for wasm in std::fs::read_dir(dir.join("exports-2022/proofs")).unwrap() {
            let wasm = wasm.unwrap().path();
            if wasm.extension().is_some_and(|e| e == "wasm") {
                std::fs::copy(&wasm, changed_dir.join(wasm.file_name().unwrap())).unwrap();
            }
        }
        let (ok, out) = verify(&[path], &policy);
        assert!(!ok, "改动一个字节（{name}）的证明包应被拒绝：\n{out}");
    }

    // A score changed in the hub's database after the approval.
    let copy = tampered_copy(dir, "tampered-score");
    {
        let conn = rusqlite::Connection::open(copy.join("hub.db")).unwrap();
        let (sid, method, scores): (i64, String, String) = conn
            .query_row(
                "SELECT submission_id, method_id, scores FROM results
                 WHERE unit_id = 'czj' AND year = 2022 AND is_current = 1
                   AND method_id <> 'bonus_penalty' AND scores <> '{}'
                 ORDER BY submission_id, method_id LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        let mut scores: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&scores).unwrap();
        let (_, v) = scores
            .iter_mut()
            .find(|(_, v)| v.as_i64().is_some_and(|v| v > 0))
            .expect("a positive indicator score");
        *v = serde_json::Value::from(0);
        conn.execute(
            "UPDATE results SET scores = ?3 WHERE submission_id = ?1 AND method_id = ?2",
            rusqlite::params![sid, method, serde_json::Value::Object(scores).to_string()],
        )
        .unwrap();
    }
    // The hub itself refuses to export a year that no longer consolidates
    // to what was approved …
    let out = copy.join("exports-2022");
    let export = kaohe(&export_args(&copy, &out));
    assert!(
        !export.status.success() && String::from_utf8_lossy(&export.stderr).contains("时不一致"),
        "审定后改动的结果应被拒绝导出：{}",
        String::from_utf8_lossy(&export.stderr)
    );
    // … so an insider reopens and approves again (audited, logged): the
    // new approval holds the changed score, which replaying the signed
    // evidence does not give. Checked without witnesses: none has cosigned
    // the grown log yet, and the recomputation must catch it on its own.
    let hub = |args: &[&str]| {
        let mut all = vec!["hub", "--data-dir", s(&copy), "--operator", "审计员"];
        all.extend_from_slice(args);
        kaohe_ok(&all);
    };
    hub(&["reopen", "--year", "2022", "--reason", "核对数据"]);
    hub(&[
        "approve",
        "--year",
        "2022",
        "--doc-number",
        "宝法治办〔2023〕9号",
    ]);
    let exports = export_copy(&copy);
    let no_witnesses: Vec<String> = policy
        .iter()
        .take_while(|a| *a != "--witnesses")
        .cloned()
        .collect();
    refused(
        &exports.join("proofs/czj.json"),
        &no_witnesses,
        "审定结果与按日志复算的不一致",
    );

    // Two leaves swapped in place (the tree left as it was).
    let copy = tampered_copy(dir, "tampered-order");
    {
        let conn = rusqlite::Connection::open(copy.join("hub.db")).unwrap();
        conn.execute_batch("DROP TRIGGER log_leaves_no_update")
            .unwrap();
        let idx = |action: &str| -> i64 {
            conn.query_row(
                "SELECT l.idx FROM log_leaves l JOIN audit_log a ON a.seq = l.audit_seq
                 WHERE l.year = 2022 AND a.action = ?1 ORDER BY l.idx LIMIT 1",
                [action],
                |r| r.get(0),
            )
            .unwrap()
        };
        let (a, b) = (idx("units.import"), idx("pack.publish"));
        let leaf = |i: i64| -> Vec<u8> {
            conn.query_row(
                "SELECT leaf FROM log_leaves WHERE year = 2022 AND idx = ?1",
                [i],
                |r| r.get(0),
            )
            .unwrap()
        };
        let (la, lb) = (leaf(a), leaf(b));
        for (i, l) in [(a, lb), (b, la)] {
            conn.execute(
                "UPDATE log_leaves SET leaf = ?2 WHERE year = 2022 AND idx = ?1",
                rusqlite::params![i, l],
            )
            .unwrap();
        }
    }
    let exports = export_copy(&copy);
    refused(&exports.join("proofs/czj.json"), &policy, "调换了顺序");

    // A node's logged scope widened, the history rewritten and re-signed:
    // no witness cosigned it.
    let copy = tampered_copy(dir, "tampered-scope");
    rewrite_log(&copy, 2022, |leaves| {
        let i = leaves
            .iter()
            .position(|l| matches!(Leaf::parse(l), Ok(Leaf::Audit(a)) if a.action == "node.add"))
            .expect("a registration leaf");
        let Ok(Leaf::Audit(mut a)) = Leaf::parse(&leaves[i]) else {
            unreachable!()
        };
        a.detail["scope"]["units"] = serde_json::json!(["czj"]);
        leaves[i] = Leaf::Audit(a).to_bytes();
    });
    let exports = export_copy(&copy);
    refused(
        &exports.join("proofs/czj.json"),
        &policy,
        "日志检查点只有 0 个受信见证节点副署，要求至少 3 个",
    );
}

/// A copy of the demo's hub data directory under `dir/<name>`.
fn tampered_copy(dir: &Path, name: &str) -> PathBuf {
    let copy = dir.join(name);
    copy_dir(&dir.join("hub"), &copy);
    copy
}

/// The arguments of `kaohe hub export --year 2022` of a copied hub.
fn export_args<'a>(hub: &'a Path, out: &'a Path) -> [&'a str; 10] {
    [
        "hub",
        "--data-dir",
        s(hub),
        "--operator",
        "审计员",
        "export",
        "--year",
        "2022",
        "--out",
        s(out),
    ]
}

/// `kaohe hub export --year 2022` of a copied hub; returns the exports.
fn export_copy(hub: &Path) -> PathBuf {
    let out = hub.join("exports-2022");
    kaohe_ok(&export_args(hub, &out));
    out
}
