use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use kaohe_proto::keys::SigningKeyPair;
use kaohe_proto::merkle::{self, verify_consistency, verify_inclusion};
use kaohe_proto::tlog::checkpoint;
use kaohe_proto::tlog::cosignature::cosign;
use kaohe_proto::tlog::leaf::{Leaf, log_verifier, witness_name, witness_verifier};
use kaohe_proto::tlog::tree::MemoryTree;
use rusqlite::Connection;
use serde_json::json;

use super::*;
use crate::audit::{self, Actor};

fn db() -> (tempfile::TempDir, Connection) {
    let dir = tempfile::tempdir().unwrap();
    let conn = crate::db::create(dir.path()).unwrap();
    (dir, conn)
}

fn actor() -> Actor {
    Actor::new("wang", "2022-03-01T08:00:00Z".parse().unwrap())
}

fn at() -> Timestamp {
    "2022-03-01T08:00:00Z".parse().unwrap()
}

fn hub() -> SigningKeyPair {
    SigningKeyPair::from_seed(&[3; 32])
}

fn leaves(conn: &Connection, year: u16) -> Vec<Leaf> {
    (0..size(conn, year).unwrap())
        .map(|i| Leaf::parse(&store::leaf(conn, year, i).unwrap().unwrap()).unwrap())
        .collect()
}

fn actions(conn: &Connection, year: u16) -> Vec<String> {
    leaves(conn, year)
        .into_iter()
        .map(|l| match l {
            Leaf::Audit(a) => a.action,
            other => other.kind().to_owned(),
        })
        .collect()
}

// ---- the rule: every audit action is classified ----

/// Every `.rs` file under `dir`, test files left out.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            if name != "tests" {
                sources(&path, out);
            }
        } else if name.ends_with(".rs") && name != "tests.rs" {
            out.push(path);
        }
    }
}

/// The string literal starting at the beginning of `s` (after white
/// space), if it is one.
fn literal(s: &str) -> Option<String> {
    let s = s.trim_start().strip_prefix('"')?;
    Some(s[..s.find('"')?].to_owned())
}

/// The top-level arguments of the call whose `(` starts `s`.
fn arguments(s: &str) -> Vec<String> {
    let mut chars = s.chars();
    assert_eq!(chars.next(), Some('('));
    let (mut depth, mut args, mut cur) = (0u32, Vec::new(), String::new());
    let (mut in_str, mut escaped) = (false, false);
    for ch in chars {
        if in_str {
            cur.push(ch);
            match ch {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match ch {
            '"' => in_str = true,
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth == 0 => {
                args.push(cur);
                return args;
            }
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                args.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(ch);
    }
    args
}

/// The audit actions the hub's code records: the values of `ACTION_*`
/// constants, of the constants of every `mod action { … }`, and string
/// literals passed straight to `audit::append`.
fn recorded_actions() -> BTreeSet<String> {
    let mut files = Vec::new();
    sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut out = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let text = match text.find("#[cfg(test)]\nmod") {
            Some(i) => &text[..i],
            None => &text[..],
        };
        for (i, _) in text.match_indices("const ACTION_") {
            let rest = &text[i..];
            if let Some(eq) = rest.find('=') {
                out.extend(literal(&rest[eq + 1..]));
            }
        }
        for (i, _) in text.match_indices("mod action {") {
            let body = &text[i..];
            let end = body.find('}').unwrap_or(body.len());
            for (j, _) in body[..end].match_indices(": &str =") {
                out.extend(literal(&body[j + ": &str =".len()..end]));
            }
        }
        for (i, _) in text.match_indices("audit::append(") {
            let args = arguments(&text[i + "audit::append".len()..]);
            if let Some(action) = args.get(2).and_then(|a| literal(a)) {
                out.insert(action);
            }
        }
    }
    out
}

#[test]
fn every_audit_action_the_hub_records_is_classified() {
    let recorded = recorded_actions();
    for known in [
        "node.add",
        "results.approve",
        "hub.restore",
        "rectification.plan",
        "submission.reject",
    ] {
        assert!(
            recorded.contains(known),
            "the scan missed {known}: {recorded:?}"
        );
    }
    let unclassified: Vec<&String> = recorded.iter().filter(|a| rule_of(a).is_none()).collect();
    assert!(
        unclassified.is_empty(),
        "这些审计动作未分类（unclassified audit actions）: {unclassified:?} — decide for each \
         whether it shapes a year's result, and add it to `RULES` in hub/src/tlog/classify.rs"
    );
}

// ---- leaves commit with their audit record ----

fn add_node(conn: &Connection, node: &str, years: &[u16]) -> rusqlite::Result<i64> {
    audit::append(
        conn,
        &actor(),
        "node.add",
        &format!("node/{node}"),
        &json!({"key_id": node, "scope": {"years": years, "methods": ["daily"]}}),
    )
}

fn import_units(conn: &Connection, year: u16) -> rusqlite::Result<i64> {
    audit::append(
        conn,
        &actor(),
        "units.import",
        &format!("units/{year}"),
        &json!({"year": year}),
    )
}

#[test]
fn a_leaf_commits_with_its_audit_record_or_not_at_all() {
    let (_dir, mut conn) = db();
    {
        let tx = conn.transaction().unwrap();
        add_node(&tx, "a", &[2022]).unwrap();
        assert_eq!(size(&tx, 2022).unwrap(), 1);
        // Dropped: rolled back.
    }
    assert_eq!(size(&conn, 2022).unwrap(), 0);
    assert!(audit::recent(&conn, 10).unwrap().is_empty());

    let tx = conn.transaction().unwrap();
    let seq = add_node(&tx, "a", &[2022]).unwrap();
    tx.commit().unwrap();
    match &leaves(&conn, 2022)[..] {
        [Leaf::Audit(a)] => {
            assert_eq!((a.seq, a.action.as_str()), (seq, "node.add"));
            assert_eq!(a.detail["key_id"], "a");
        }
        other => panic!("{other:?}"),
    }
    // Without a transaction of the caller's: still one record, one leaf.
    add_node(&conn, "b", &[2022]).unwrap();
    assert_eq!(size(&conn, 2022).unwrap(), 2);
    assert_eq!(audit::recent(&conn, 10).unwrap().len(), 2);
}

#[test]
fn refusals_and_backups_are_not_leaves() {
    let (_dir, conn) = db();
    import_units(&conn, 2022).unwrap();
    for action in ["submission.reject", "hub.backup", "rectification.plan"] {
        audit::append(&conn, &actor(), action, "2022/u", &json!({"year": 2022})).unwrap();
    }
    assert_eq!(actions(&conn, 2022), ["units.import"]);
}

#[test]
fn a_record_of_no_year_is_refused_with_its_action() {
    let (_dir, conn) = db();
    let err = audit::append(&conn, &actor(), "results.notify", "unit-x", &json!({})).unwrap_err();
    assert!(err.to_string().contains("results.notify"), "{err}");
    assert!(audit::recent(&conn, 10).unwrap().is_empty());
}

#[test]
fn registrations_for_coming_years_wait_for_their_logs_and_each_year_starts_with_the_last() {
    let (_dir, conn) = db();
    // No log yet: the earliest year of the scope opens.
    add_node(&conn, "a", &[2022, 2023]).unwrap();
    import_units(&conn, 2022).unwrap();
    assert_eq!(open_years(&conn).unwrap(), [2022]);
    // 2023 is not open: the registration stays in 2022's log.
    add_node(&conn, "b", &[2023]).unwrap();
    assert_eq!(open_years(&conn).unwrap(), [2022]);
    assert_eq!(
        actions(&conn, 2022),
        ["node.add", "units.import", "node.add"]
    );

    let head_2022 = Appender::new(&conn).head(2022).unwrap();
    import_units(&conn, 2023).unwrap();
    assert_eq!(open_years(&conn).unwrap(), [2022, 2023]);
    match &leaves(&conn, 2023)[..] {
        [Leaf::Rollover(r), Leaf::Audit(a)] => {
            assert_eq!((r.year, r.head), (2022, head_2022));
            assert_eq!(r.checkpoint, None, "no checkpoint of that size was signed");
            assert_eq!(a.action, "units.import");
        }
        other => panic!("{other:?}"),
    }
    // Now both are open: a registration for both goes to both; a
    // revocation to every open year.
    add_node(&conn, "c", &[2022, 2023]).unwrap();
    audit::append(
        &conn,
        &actor(),
        "node.revoke",
        "node/a",
        &json!({"key_id": "a"}),
    )
    .unwrap();
    assert_eq!(
        actions(&conn, 2023),
        ["rollover", "units.import", "node.add", "node.revoke"]
    );
    assert_eq!(
        actions(&conn, 2022),
        [
            "node.add",
            "units.import",
            "node.add",
            "node.add",
            "node.revoke"
        ]
    );
}

#[test]
fn a_rollover_carries_the_previous_checkpoint_when_the_hub_signed_that_size() {
    let (_dir, conn) = db();
    import_units(&conn, 2022).unwrap();
    let cp = checkpoint(&conn, 2022, &hub(), at()).unwrap();
    import_units(&conn, 2023).unwrap();
    match &leaves(&conn, 2023)[0] {
        Leaf::Rollover(r) => {
            let note = r.checkpoint.as_deref().unwrap();
            let opened =
                checkpoint::open(note.as_bytes(), &log_verifier(&hub().public(), 2022), &[])
                    .unwrap();
            assert_eq!(opened.checkpoint.size, cp.size);
            assert_eq!(opened.checkpoint.root, r.head.root);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_approval_carries_the_approved_results_and_the_log_head_before_it() {
    let (_dir, conn) = db();
    import_units(&conn, 2022).unwrap();
    conn.execute(
        "INSERT INTO approvals (year, doc_number, approved_at, operator, consolidation_sha256, results)
         VALUES (2022, '宝法办〔2023〕1号', 't', 'wang', 'ab', '{\"year\":2022,\"units\":{\"u1\":{\"total\":9000,\"grade\":\"good\"}}}')",
        [],
    )
    .unwrap();
    let before = Appender::new(&conn).head(2022).unwrap();
    audit::append(
        &conn,
        &actor(),
        "results.approve",
        "2022",
        &json!({"doc_number": "x"}),
    )
    .unwrap();
    match leaves(&conn, 2022).last().unwrap() {
        Leaf::Audit(a) => {
            let carried = a.carried.as_ref().unwrap();
            assert_eq!(carried["checkpoint"]["size"], before.size);
            assert_eq!(carried["checkpoint"]["root"], hex::encode(before.root));
            assert_eq!(carried["results"]["units"]["u1"]["total"], 9000);
        }
        other => panic!("{other:?}"),
    }
}

// ---- the stored tree ----

/// The `i`th of the filler leaves the stored-tree tests append.
fn filler(i: u32) -> Leaf {
    Leaf::Rollover(kaohe_proto::tlog::leaf::RolloverLeaf {
        year: 2021,
        head: kaohe_proto::tlog::leaf::TreeHead {
            size: u64::from(i),
            root: [i as u8; 32],
        },
        checkpoint: None,
    })
}

/// Appends filler leaves `from..to` to 2022's log in one appender, as one
/// writer batch does.
fn fill(conn: &Connection, from: u32, to: u32) {
    let mut log = Appender::new(conn);
    for i in from..to {
        log.append(2022, &filler(i), None, None).unwrap();
    }
}

fn stored_levels(conn: &Connection) -> Vec<(u8, u64)> {
    conn.prepare("SELECT level, idx FROM log_hashes ORDER BY level, idx")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[test]
fn the_stored_tree_matches_a_memory_tree_and_its_proofs_verify() {
    let (_dir, conn) = db();
    let mut memory = MemoryTree::new();
    let mut roots = vec![merkle::empty_tree_hash()];
    // Batches of uneven sizes, so appends and proofs start inside a tile,
    // on a tile's edge and across tiles, reading what earlier batches left.
    let mut from = 0u32;
    for batch in [1u32, 69, 185, 1, 2, 254, 2, 100, 3, 600] {
        let mut log = Appender::new(&conn);
        for i in from..from + batch {
            let leaf = filler(i);
            log.append(2022, &leaf, None, None).unwrap();
            memory.append(leaf.hash()).unwrap();
            assert_eq!(
                log.head(2022).unwrap().root,
                memory.root(),
                "size {}",
                i + 1
            );
            roots.push(memory.root());
        }
        let size = from + batch;
        for index in (from..size).step_by(7).chain([size - 1]) {
            assert_eq!(
                log.inclusion_proof(2022, u64::from(index), u64::from(size))
                    .unwrap(),
                memory
                    .inclusion_proof(u64::from(index), u64::from(size))
                    .unwrap(),
                "{index} of {size}"
            );
        }
        from = size;
    }
    assert_eq!(from, 1217);
    // Only subtrees of 256 leaves and more are stored.
    assert_eq!(
        stored_levels(&conn),
        [(8, 0), (8, 1), (8, 2), (8, 3), (9, 0), (9, 1), (10, 0)]
    );
    let hashes: Vec<_> = leaves(&conn, 2022).iter().map(Leaf::hash).collect();
    for new in [
        1u64, 2, 7, 8, 9, 70, 255, 256, 257, 511, 512, 513, 1024, 1217,
    ] {
        for index in (0..new).step_by(37).chain([new - 1]) {
            let proof = inclusion_proof(&conn, 2022, index, new).unwrap();
            assert_eq!(proof, memory.inclusion_proof(index, new).unwrap());
            verify_inclusion(
                &hashes[index as usize],
                index,
                new,
                &proof,
                &roots[new as usize],
            )
            .unwrap();
        }
        for old in (1..=new).step_by(29).chain([new - 1, new]) {
            let old = old.max(1);
            let proof = consistency_proof(&conn, 2022, old, new).unwrap();
            assert_eq!(proof, memory.consistency_proof(old, new).unwrap());
            verify_consistency(old, new, &roots[old as usize], &roots[new as usize], &proof)
                .unwrap();
        }
    }
}

#[test]
fn the_log_tables_refuse_updates_and_deletes() {
    let (_dir, conn) = db();
    import_units(&conn, 2022).unwrap();
    // A tile of 256 leaves: its hash is stored.
    fill(&conn, 1, 256);
    checkpoint(&conn, 2022, &hub(), at()).unwrap();
    assert_eq!(stored_levels(&conn), [(8, 0)]);
    for sql in [
        "UPDATE log_leaves SET idx = 5",
        "DELETE FROM log_leaves",
        "UPDATE log_hashes SET hash = zeroblob(32)",
        "DELETE FROM log_hashes",
        "DELETE FROM log_checkpoints",
    ] {
        let err = conn.execute(sql, []).unwrap_err();
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
}

// ---- checkpoints and cosignatures ----

#[test]
fn a_checkpoint_is_signed_once_per_size_and_opens_under_the_year_origin() {
    let (_dir, conn) = db();
    assert!(matches!(
        checkpoint(&conn, 2022, &hub(), at()),
        Err(LogError::NoLog { year: 2022 })
    ));
    import_units(&conn, 2022).unwrap();
    let a = checkpoint(&conn, 2022, &hub(), at()).unwrap();
    let b = checkpoint(&conn, 2022, &hub(), at()).unwrap();
    assert_eq!(a, b);
    let opened = checkpoint::open(
        a.note.to_string().as_bytes(),
        &log_verifier(&hub().public(), 2022),
        &[],
    )
    .unwrap();
    assert_eq!(
        (opened.checkpoint.size, opened.checkpoint.root),
        (1, a.root)
    );
    import_units(&conn, 2022).unwrap();
    let c = checkpoint(&conn, 2022, &hub(), at()).unwrap();
    assert_eq!(c.size, 2);
    assert_eq!(latest_checkpoint(&conn, 2022).unwrap().unwrap(), c);
}

#[test]
fn cosignatures_of_registered_witnesses_are_kept_and_published_with_the_checkpoint() {
    let (_dir, conn) = db();
    import_units(&conn, 2022).unwrap();
    let cp = checkpoint(&conn, 2022, &hub(), at()).unwrap();
    let node = SigningKeyPair::from_seed(&[8; 32]);
    let stranger = SigningKeyPair::from_seed(&[9; 32]);
    let known = |id: &KeyId| (*id == node.key_id()).then(|| node.public());
    let cosigned_by = |key: &SigningKeyPair| {
        let mut note = cp.note.clone();
        note.add_signature(
            cosign(
                note.text(),
                &witness_name(&key.key_id()),
                key,
                1_700_000_000,
            )
            .unwrap(),
        )
        .unwrap();
        note
    };

    assert!(matches!(
        add_cosignatures(
            &conn,
            &cosigned_by(&stranger),
            &hub().public(),
            &known,
            at()
        ),
        Err(CosignError::NoWitness)
    ));
    assert_eq!(
        add_cosignatures(&conn, &cosigned_by(&node), &hub().public(), &known, at()).unwrap(),
        1
    );
    // Again: still one.
    assert_eq!(
        add_cosignatures(&conn, &cosigned_by(&node), &hub().public(), &known, at()).unwrap(),
        1
    );
    let published = cosigned_note(&conn, 2022, cp.size).unwrap().unwrap();
    let opened = checkpoint::open(
        published.to_string().as_bytes(),
        &log_verifier(&hub().public(), 2022),
        &[witness_verifier(&node.public())],
    )
    .unwrap();
    assert_eq!(opened.cosignatures.len(), 1);

    // A checkpoint the hub never signed, or of another hub's log.
    let other = SigningKeyPair::from_seed(&[4; 32]);
    let mut forged = kaohe_proto::tlog::checkpoint::Checkpoint::parse(cp.note.text()).unwrap();
    forged.root = [0; 32];
    let mut forged = forged.sign(&hub()).unwrap();
    forged
        .add_signature(cosign(forged.text(), &witness_name(&node.key_id()), &node, 1).unwrap())
        .unwrap();
    assert!(matches!(
        add_cosignatures(&conn, &forged, &hub().public(), &known, at()),
        Err(CosignError::UnknownCheckpoint {
            year: 2022,
            size: 1
        })
    ));
    assert!(matches!(
        add_cosignatures(&conn, &cosigned_by(&node), &other.public(), &known, at()),
        Err(CosignError::OtherLog { .. })
    ));
    // A cosignature line by the registered key's name over other bytes.
    let mut bad = cp.note.clone();
    let mut sig = cosign(forged.text(), &witness_name(&node.key_id()), &node, 1).unwrap();
    sig.signature[20] ^= 1;
    bad.add_signature(sig).unwrap();
    assert!(matches!(
        add_cosignatures(&conn, &bad, &hub().public(), &known, at()),
        Err(CosignError::BadCosignature { .. })
    ));
}

#[test]
fn a_tree_edited_under_a_signed_checkpoint_is_never_signed_again() {
    // A leaf's bytes (the small subtrees are hashed from them).
    let (_dir, conn) = db();
    import_units(&conn, 2022).unwrap();
    import_units(&conn, 2022).unwrap();
    checkpoint(&conn, 2022, &hub(), at()).unwrap();
    conn.execute_batch("DROP TRIGGER log_leaves_no_update")
        .unwrap();
    conn.execute(
        "UPDATE log_leaves SET leaf = CAST('{}' AS BLOB) WHERE year = 2022 AND idx = 0",
        [],
    )
    .unwrap();
    assert!(matches!(
        checkpoint(&conn, 2022, &hub(), at()),
        Err(LogError::Tampered {
            year: 2022,
            size: 2
        })
    ));
    // A stored hash of a tile.
    let (_dir, conn) = db();
    fill(&conn, 0, 300);
    checkpoint(&conn, 2022, &hub(), at()).unwrap();
    conn.execute_batch("DROP TRIGGER log_hashes_no_update")
        .unwrap();
    conn.execute(
        "UPDATE log_hashes SET hash = zeroblob(32) WHERE year = 2022 AND level = 8 AND idx = 0",
        [],
    )
    .unwrap();
    assert!(matches!(
        checkpoint(&conn, 2022, &hub(), at()),
        Err(LogError::Tampered {
            year: 2022,
            size: 300
        })
    ));
}
