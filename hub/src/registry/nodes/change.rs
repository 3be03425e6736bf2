//! Changing a registered node without losing its history: its scope and
//! assessor unit ([`edit_node`]), its signing key ([`rotate_key`]). Both
//! are audit-logged with the reason, in the transaction of the change.

use std::collections::BTreeSet;

use kaohe_proto::keys::{KeyError, KeyId, PublicKey};
use rusqlite::{Connection, params};
use serde_json::json;

use super::{
    AssessorUnitError, FindNodeError, NodeKey, NodeRecord, NodeState, check_assessor_unit,
    find_node, key_owner,
};
use crate::audit::{self, Actor};
use crate::registry::scope::{InvalidScope, Scope};

/// What an edit changes; `None` keeps what the node has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeEdit {
    pub categories: Option<BTreeSet<String>>,
    pub subtrees: Option<BTreeSet<String>>,
    pub units: Option<BTreeSet<String>>,
    pub methods: Option<BTreeSet<String>>,
    pub years: Option<BTreeSet<i32>>,
    pub own_unit: Option<bool>,
    pub assessor_unit: Option<String>,
}

impl NodeEdit {
    /// `scope` with this edit applied.
    fn apply(&self, scope: &Scope) -> Scope {
        let pick = |new: &Option<BTreeSet<String>>, old: &BTreeSet<String>| {
            new.clone().unwrap_or_else(|| old.clone())
        };
        Scope {
            categories: pick(&self.categories, &scope.categories),
            subtrees: pick(&self.subtrees, &scope.subtrees),
            units: pick(&self.units, &scope.units),
            methods: pick(&self.methods, &scope.methods),
            years: self.years.clone().unwrap_or_else(|| scope.years.clone()),
            own_unit: self.own_unit.unwrap_or(scope.own_unit),
        }
    }
}

/// Editing a node failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum EditNodeError {
    #[error("修改原因不能为空（--reason），它记入审计日志（reason is empty）")]
    EmptyReason,
    #[error(transparent)]
    Find(#[from] FindNodeError),
    #[error("节点 {name}（{node}）已被吊销，不能修改；请登记新节点（node revoked）")]
    Revoked { node: KeyId, name: String },
    #[error(transparent)]
    Scope(#[from] InvalidScope),
    #[error(transparent)]
    AssessorUnit(#[from] AssessorUnitError),
    #[error(
        "没有要修改的内容：请给出 --categories、--subtrees、--units、--methods、--years、--own-unit 或 --assessor-unit 中至少一项的新值（nothing to change）"
    )]
    Nothing,
    #[error("修改节点失败，已回滚（cannot store the change, rolled back）：{0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// A node before and after an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    pub before: NodeRecord,
    pub after: NodeRecord,
}

/// Changes a node's scope and assessor unit (audit-logged with `reason`).
/// Its reports already accepted stay; from the next batch on, the hub
/// checks new reports against the new scope.
pub fn edit_node(
    conn: &mut Connection,
    query: &str,
    edit: &NodeEdit,
    reason: &str,
    actor: &Actor,
) -> Result<Edited, EditNodeError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(EditNodeError::EmptyReason);
    }
    let tx = conn.transaction()?;
    let before = find_node(&tx, query)?;
    if !before.is_active() {
        return Err(EditNodeError::Revoked {
            node: before.id,
            name: before.name,
        });
    }
    let scope = edit.apply(&before.scope);
    scope.validate()?;
    let assessor_unit = match &edit.assessor_unit {
        Some(unit) => check_assessor_unit(before.assessor, Some(unit))?,
        None => before.assessor_unit.clone(),
    };
    if scope == before.scope && assessor_unit == before.assessor_unit {
        return Err(EditNodeError::Nothing);
    }
    let scope_json = serde_json::to_string(&scope)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    tx.execute(
        "UPDATE nodes SET scope = ?1, assessor_unit = ?2 WHERE key_id = ?3",
        params![scope_json, assessor_unit, before.id.as_str()],
    )?;
    audit::append(
        &tx,
        actor,
        audit::action::NODE_EDIT,
        &format!("node/{}", before.id),
        &json!({
            "node": before.id,
            "name": before.name,
            "reason": reason,
            "before": { "scope": before.scope, "assessor_unit": before.assessor_unit },
            "after": { "scope": scope, "assessor_unit": assessor_unit },
        }),
    )?;
    tx.commit()?;
    let after = NodeRecord {
        scope,
        assessor_unit,
        ..before.clone()
    };
    Ok(Edited { before, after })
}

/// Rotating a node's key failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum RotateKeyError {
    #[error("更换原因不能为空（--reason），它记入审计日志（reason is empty）")]
    EmptyReason,
    #[error(transparent)]
    Find(#[from] FindNodeError),
    #[error("节点 {name}（{node}）已被吊销，不能更换密钥；请登记新节点（node revoked）")]
    Revoked { node: KeyId, name: String },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(
        "该公钥（密钥编号 {key_id}）已登记为节点「{existing}」的密钥，每个密钥只能登记一次；请在节点上生成新密钥（kaohe node rotate-key prepare）（key already registered）"
    )]
    DuplicateKey { key_id: KeyId, existing: String },
    #[error("更换密钥失败，已回滚（cannot store the new key, rolled back）：{0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// A node after its key was rotated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotated {
    pub node: NodeRecord,
    /// The key now retired.
    pub old: NodeKey,
}

/// Installs `new_public_key` as the node's key and retires the current
/// one (audit-logged with `reason`). The node keeps its id, scope and
/// every report; the new key may sign the node's sequence numbers from one
/// above the highest the hub has accepted from it, and from now on the
/// old key can no longer submit (an envelope it signed that the hub
/// already committed is still answered with its receipt).
pub fn rotate_key(
    conn: &mut Connection,
    query: &str,
    new_public_key: &str,
    reason: &str,
    actor: &Actor,
) -> Result<Rotated, RotateKeyError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(RotateKeyError::EmptyReason);
    }
    let public_key = PublicKey::parse(new_public_key.trim())?;
    let key_id = public_key.key_id();
    let tx = conn.transaction()?;
    let node = find_node(&tx, query)?;
    if let NodeState::Revoked { .. } = node.state {
        return Err(RotateKeyError::Revoked {
            node: node.id,
            name: node.name,
        });
    }
    if let Some(existing) = key_owner(&tx, &key_id)? {
        return Err(RotateKeyError::DuplicateKey { key_id, existing });
    }
    let highest: i64 = tx.query_row(
        "SELECT coalesce(max(sequence), 0) FROM submissions WHERE node_id = ?1",
        [node.id.as_str()],
        |r| r.get(0),
    )?;
    let first_sequence = u64::try_from(highest).unwrap_or(0).saturating_add(1);
    tx.execute(
        "UPDATE node_keys SET retired_at = ?1, retired_reason = ?2
         WHERE node_id = ?3 AND retired_at IS NULL",
        params![actor.at.to_string(), reason, node.id.as_str()],
    )?;
    tx.execute(
        "INSERT INTO node_keys (key_id, node_id, public_key, first_sequence, added_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            key_id.as_str(),
            node.id.as_str(),
            public_key.to_string(),
            i64::try_from(first_sequence).unwrap_or(i64::MAX),
            actor.at.to_string()
        ],
    )?;
    audit::append(
        &tx,
        actor,
        audit::action::NODE_ROTATE_KEY,
        &format!("node/{}", node.id),
        &json!({
            "node": node.id,
            "name": node.name,
            "reason": reason,
            "old_key_id": node.key.key_id,
            "new_key_id": key_id,
            "new_public_key": public_key,
            "first_sequence": first_sequence,
        }),
    )?;
    tx.commit()?;
    let mut old = node.key.clone();
    old.retired = Some((actor.at, reason.to_string()));
    let mut earlier_keys = node.earlier_keys.clone();
    earlier_keys.push(old.clone());
    let node = NodeRecord {
        key: NodeKey {
            key_id,
            public_key,
            first_sequence,
            added_at: actor.at,
            retired: None,
        },
        earlier_keys,
        ..node
    };
    Ok(Rotated { node, old })
}
