//! The nodes as the log tells them: registrations (`node.add`), scope edits
//! (`node.edit`), key rotations (`node.rotate_key`) and revocations
//! (`node.revoke`), replayed in log order so a submission is judged by the
//! node as it stood when the submission was logged — the same rule the hub
//! applied at ingest (`NodeRecord::authorize`).
//!
//! Layout: [`Registry::from_leaves`] builds the history; [`Registry::signer`]
//! answers who signed a submission logged at a position, or why that does
//! not hold.

use std::collections::{BTreeMap, BTreeSet};

use kaohe_hub::registry::nodes::{AssessorKind, NodeKey, NodeRecord, NodeState};
use kaohe_hub::registry::scope::Scope;
use kaohe_proto::envelope::Digest;
use kaohe_proto::keys::{KeyId, PublicKey};
use kaohe_proto::tlog::leaf::AuditLeaf;
use serde_json::Value;

use super::VerifyError;
use super::log::Placed;

/// A place in the logs: earlier years' logs come first.
type Position = (u16, u64);

/// One key a node has had, from where the log added it.
struct KeyEntry {
    node: KeyId,
    key: PublicKey,
    from: Position,
    /// Where a rotation retired it.
    retired: Option<Position>,
}

/// A node's registered facts from a position on.
#[derive(Clone)]
struct NodeFacts {
    name: String,
    assessor: AssessorKind,
    assessor_unit: Option<String>,
    scope: Scope,
    added_at: jiff::Timestamp,
}

/// The registry as logged.
#[derive(Default)]
pub struct Registry {
    keys: BTreeMap<KeyId, KeyEntry>,
    /// Per node: its facts, in log order.
    history: BTreeMap<KeyId, Vec<(Position, NodeFacts)>>,
    revoked: BTreeMap<KeyId, (Position, String)>,
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

impl Registry {
    /// Replays the registry leaves among `leaves` (each audit record once,
    /// at its first position: a record logged in several years' logs is
    /// one act).
    pub fn from_leaves(leaves: &[Placed]) -> Result<Registry, VerifyError> {
        let mut ordered: Vec<&Placed> = leaves
            .iter()
            .filter(|l| l.audit().is_some_and(|a| a.action.starts_with("node.")))
            .collect();
        ordered.sort_by_key(|l| l.position());
        let mut seen = BTreeSet::new();
        let mut r = Registry::default();
        for l in ordered {
            let a = l.audit().expect("filtered on audit leaves");
            if !seen.insert(a.seq) {
                continue;
            }
            let bad = |detail: &str| VerifyError::LeafBody {
                year: l.year,
                index: l.index,
                detail: detail.to_owned(),
            };
            match a.action.as_str() {
                "node.add" => r.add(l.position(), a).map_err(bad)?,
                "node.edit" => r.edit(l.position(), a).map_err(bad)?,
                "node.rotate_key" => r.rotate(l.position(), a).map_err(bad)?,
                "node.revoke" => {
                    let node = node_id(&a.detail, "key_id").map_err(bad)?;
                    r.revoked
                        .entry(node)
                        .or_insert((l.position(), a.time.clone()));
                }
                _ => {}
            }
        }
        Ok(r)
    }

    fn add(&mut self, at: Position, a: &AuditLeaf) -> Result<(), &'static str> {
        const BAD: &str = "节点登记记录缺少公钥、考核主体或授权范围（registration without key, assessor or scope）";
        let d = &a.detail;
        let key = str_of(d, "public_key")
            .and_then(|k| PublicKey::parse(k).ok())
            .ok_or(BAD)?;
        if str_of(d, "key_id") != Some(key.key_id().as_str()) {
            return Err("节点登记记录的密钥标识与公钥不符（key id does not match the key）");
        }
        let facts = NodeFacts {
            name: str_of(d, "name").unwrap_or_default().to_owned(),
            assessor: str_of(d, "assessor")
                .and_then(|k| k.parse().ok())
                .ok_or(BAD)?,
            assessor_unit: str_of(d, "assessor_unit").map(str::to_owned),
            scope: scope_of(d.get("scope")).ok_or(BAD)?,
            added_at: a.time.parse().unwrap_or(jiff::Timestamp::UNIX_EPOCH),
        };
        let id = key.key_id();
        self.keys.entry(id.clone()).or_insert(KeyEntry {
            node: id.clone(),
            key,
            from: at,
            retired: None,
        });
        self.history.entry(id).or_default().push((at, facts));
        Ok(())
    }

    fn edit(&mut self, at: Position, a: &AuditLeaf) -> Result<(), &'static str> {
        let d = &a.detail;
        let node = node_id(d, "node")?;
        let after = d
            .get("after")
            .ok_or("授权范围变更记录缺少变更后的范围（scope edit without its result）")?;
        let scope = scope_of(after.get("scope"))
            .ok_or("授权范围变更记录缺少变更后的范围（scope edit without its result）")?;
        let history = self
            .history
            .get_mut(&node)
            .ok_or("授权范围变更记录之前没有该节点的登记（scope edit of an unregistered node）")?;
        let mut facts = history
            .last()
            .expect("a history has its registration")
            .1
            .clone();
        facts.scope = scope;
        facts.assessor_unit = str_of(after, "assessor_unit").map(str::to_owned);
        history.push((at, facts));
        Ok(())
    }

    fn rotate(&mut self, at: Position, a: &AuditLeaf) -> Result<(), &'static str> {
        const BAD: &str =
            "更换密钥记录缺少节点或新公钥，或标识不符（key rotation without node or new key)";
        let d = &a.detail;
        let node = node_id(d, "node")?;
        let key = str_of(d, "new_public_key")
            .and_then(|k| PublicKey::parse(k).ok())
            .ok_or(BAD)?;
        if str_of(d, "new_key_id") != Some(key.key_id().as_str()) {
            return Err(BAD);
        }
        if !self.history.contains_key(&node) {
            return Err("更换密钥记录之前没有该节点的登记（key rotation of an unregistered node）");
        }
        for entry in self.keys.values_mut() {
            if entry.node == node && entry.retired.is_none() {
                entry.retired = Some(at);
            }
        }
        self.keys.entry(key.key_id()).or_insert(KeyEntry {
            node,
            key,
            from: at,
            retired: None,
        });
        Ok(())
    }

    /// The node that signed with `key` a submission logged at `at`, as it
    /// stood then (its scope and assessor), and the key; or why the log
    /// does not let that key sign there.
    pub fn signer(
        &self,
        key: &KeyId,
        at: Position,
        digest: Digest,
    ) -> Result<(NodeRecord, PublicKey), VerifyError> {
        let unregistered = || VerifyError::Unregistered {
            node: key.to_string(),
            digest,
        };
        let entry = self
            .keys
            .get(key)
            .filter(|e| e.from < at)
            .ok_or_else(unregistered)?;
        if let Some(retired) = entry.retired
            && retired < at
        {
            return Err(VerifyError::RetiredKey {
                key: key.to_string(),
                node: entry.node.to_string(),
                digest,
            });
        }
        if let Some((revoked, time)) = self.revoked.get(&entry.node)
            && *revoked < at
        {
            return Err(VerifyError::Revoked {
                node: entry.node.to_string(),
                time: time.clone(),
                digest,
            });
        }
        let facts = self
            .history
            .get(&entry.node)
            .and_then(|h| h.iter().rev().find(|(p, _)| *p < at))
            .map(|(_, f)| f.clone())
            .ok_or_else(unregistered)?;
        let node_key = NodeKey {
            key_id: key.clone(),
            public_key: entry.key,
            first_sequence: 1,
            added_at: facts.added_at,
            retired: None,
        };
        Ok((
            NodeRecord {
                id: entry.node.clone(),
                key: node_key,
                earlier_keys: Vec::new(),
                name: facts.name,
                assessor: facts.assessor,
                assessor_unit: facts.assessor_unit,
                scope: facts.scope,
                added_at: facts.added_at,
                state: NodeState::Active,
            },
            entry.key,
        ))
    }
}

fn node_id(d: &Value, field: &str) -> Result<KeyId, &'static str> {
    str_of(d, field)
        .and_then(|n| n.parse().ok())
        .ok_or("节点记录缺少节点标识（node record without its id）")
}

fn scope_of(v: Option<&Value>) -> Option<Scope> {
    serde_json::from_value(v?.clone()).ok()
}

#[cfg(test)]
mod tests {
    use kaohe_proto::SigningKeyPair;
    use kaohe_proto::tlog::leaf::Leaf;
    use serde_json::json;

    use super::*;

    fn key(seed: u8) -> SigningKeyPair {
        SigningKeyPair::from_seed(&[seed; 32])
    }

    fn placed(index: u64, seq: i64, action: &str, detail: Value) -> Placed {
        Placed {
            year: 2024,
            index,
            leaf: Leaf::Audit(AuditLeaf {
                seq,
                time: "2024-03-01T00:00:00Z".into(),
                operator: "wang".into(),
                action: action.into(),
                subject: "node/x".into(),
                detail,
                carried: None,
            }),
        }
    }

    fn scope(units: &[&str]) -> Value {
        json!({"units": units, "methods": ["annual_review"], "years": [2024]})
    }

    /// A node registered at 0 (key 1), its scope widened at 2, its key
    /// rotated to key 2 at 4, revoked at 8 — logged twice over (a record
    /// in two years' logs is one act).
    fn history() -> Vec<Placed> {
        let (k1, k2) = (key(1), key(2));
        let id = k1.key_id().to_string();
        let mut leaves = vec![
            placed(
                0,
                1,
                "node.add",
                json!({
                    "key_id": id, "public_key": k1.public().to_string(), "name": "司法局",
                    "assessor": "county_office", "assessor_unit": null, "scope": scope(&["a"]),
                }),
            ),
            placed(
                2,
                2,
                "node.edit",
                json!({
                    "node": id, "name": "司法局", "reason": "扩大",
                    "before": {"scope": scope(&["a"]), "assessor_unit": null},
                    "after": {"scope": scope(&["a", "b"]), "assessor_unit": null},
                }),
            ),
            placed(
                4,
                3,
                "node.rotate_key",
                json!({
                    "node": id, "name": "司法局", "reason": "换钥",
                    "old_key_id": id, "new_key_id": k2.key_id().to_string(),
                    "new_public_key": k2.public().to_string(), "first_sequence": 3,
                }),
            ),
            placed(
                8,
                4,
                "node.revoke",
                json!({"key_id": id, "name": "司法局", "reason": "撤销"}),
            ),
        ];
        let mut again = leaves[2].clone();
        again.index = 6;
        leaves.push(again);
        leaves
    }

    fn units_of(r: &Registry, key: &KeyId, at: u64) -> Vec<String> {
        let (node, _) = r.signer(key, (2024, at), Digest([0; 32])).unwrap();
        node.scope.units.into_iter().collect()
    }

    #[test]
    fn a_submission_is_judged_by_the_node_as_it_stood_when_logged() {
        let r = Registry::from_leaves(&history()).unwrap();
        let (k1, k2) = (key(1).key_id(), key(2).key_id());
        assert_eq!(units_of(&r, &k1, 1), ["a"]);
        assert_eq!(units_of(&r, &k1, 3), ["a", "b"]);
        // The rotated key is the same node, with the scope it then had.
        let (node, public) = r.signer(&k2, (2024, 5), Digest([0; 32])).unwrap();
        assert_eq!((node.id, public), (k1.clone(), key(2).public()));
        assert_eq!(units_of(&r, &k2, 7), ["a", "b"]);
    }

    #[test]
    fn a_retired_key_a_key_not_yet_added_and_a_revoked_node_are_refused() {
        let r = Registry::from_leaves(&history()).unwrap();
        let (k1, k2) = (key(1).key_id(), key(2).key_id());
        let d = Digest([0; 32]);
        assert!(matches!(
            r.signer(&k1, (2024, 5), d),
            Err(VerifyError::RetiredKey { .. })
        ));
        assert!(matches!(
            r.signer(&k2, (2024, 3), d),
            Err(VerifyError::Unregistered { .. })
        ));
        assert!(matches!(
            r.signer(&k2, (2024, 9), d),
            Err(VerifyError::Revoked { .. })
        ));
        assert!(matches!(
            r.signer(&key(3).key_id(), (2024, 5), d),
            Err(VerifyError::Unregistered { .. })
        ));
    }

    #[test]
    fn a_rotation_naming_a_key_that_is_not_its_own_is_refused() {
        let mut leaves = history();
        leaves[2] = placed(
            4,
            3,
            "node.rotate_key",
            json!({
                "node": key(1).key_id().to_string(),
                "new_key_id": key(3).key_id().to_string(),
                "new_public_key": key(2).public().to_string(),
            }),
        );
        leaves.truncate(3);
        assert!(matches!(
            Registry::from_leaves(&leaves),
            Err(VerifyError::LeafBody {
                year: 2024,
                index: 4,
                ..
            })
        ));
    }
}
