//! 节点（nodes）：考核主体的本地节点——一个身份，一串先后使用的密钥。
//!
//! A node is an identity: its id is the key id of the first key it was
//! registered with, and it keeps that id when its key is rotated
//! ([`change::rotate_key`]). Every key it ever had stays on record with the
//! first sequence number it may sign, so a report signed by an earlier key
//! still belongs to the same node and never clashes with the new key's
//! reports, and the node's sequence simply continues. A submission's node
//! is the node of the key that signed it. A node is never deleted;
//! revocation records when and why, and a revoked node's reports are
//! refused.
//!
//! **What a node may report** ([`NodeRecord::authorize`]): a unit, method
//! and year inside its scope ([`Scope::check`]) **and** a unit whose
//! 考核主体 in that year's roster is the node's own assessor — the county
//! office, the SASAC, the health commission, or for a township or county
//! unit the unit it is registered for ([`NodeRecord::assessor_unit`]) —
//! or that very unit when the scope says so ([`Scope::own_unit`]).
//!
//! Layout: this file (the record, registering, finding, revoking, what a
//! node may report), `change` (editing a scope, rotating a key), `tests`.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use kaohe_proto::keys::{KeyError, KeyId, PublicKey};

use super::StoreError;
use super::scope::{InvalidScope, RegistryView, Scope, ScopeViolation};
use super::units::{ResponsibleAssessor, UnitRecord};
use crate::audit::{self, Actor};

pub mod change;
#[cfg(test)]
pub(crate) mod tests;

/// The kind of assessor a node belongs to (考核主体类型).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AssessorKind {
    /// 依法治县办: townships and county units.
    CountyOffice,
    /// 国资局: county enterprises.
    Sasac,
    /// 卫健委: county hospitals.
    HealthCommission,
    /// 乡镇: its own system.
    Township,
    /// 县直单位: its own system.
    CountyUnit,
}

impl AssessorKind {
    pub const ALL: [AssessorKind; 5] = [
        AssessorKind::CountyOffice,
        AssessorKind::Sasac,
        AssessorKind::HealthCommission,
        AssessorKind::Township,
        AssessorKind::CountyUnit,
    ];

    pub fn id(self) -> &'static str {
        match self {
            AssessorKind::CountyOffice => "county_office",
            AssessorKind::Sasac => "sasac",
            AssessorKind::HealthCommission => "health_commission",
            AssessorKind::Township => "township",
            AssessorKind::CountyUnit => "county_unit",
        }
    }

    pub fn name_zh(self) -> &'static str {
        match self {
            AssessorKind::CountyOffice => "依法治县办",
            AssessorKind::Sasac => "国资局",
            AssessorKind::HealthCommission => "卫健委",
            AssessorKind::Township => "乡镇",
            AssessorKind::CountyUnit => "县直单位",
        }
    }

    /// Whether the assessor is a unit of the roster assessing its own
    /// system (township, county unit), so the node must name that unit.
    pub fn is_unit(self) -> bool {
        matches!(self, AssessorKind::Township | AssessorKind::CountyUnit)
    }
}

impl fmt::Display for AssessorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name_zh())
    }
}

/// An assessor kind that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "未知考核主体类型「{0}」，应为 county_office（依法治县办）、sasac（国资局）、health_commission（卫健委）、township（乡镇）或 county_unit（县直单位）（unknown assessor kind）"
)]
pub struct UnknownAssessorKind(pub String);

impl FromStr for AssessorKind {
    type Err = UnknownAssessorKind;

    /// Accepts the ids and the Chinese names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        AssessorKind::ALL
            .into_iter()
            .find(|k| k.id() == s || k.name_zh() == s)
            .ok_or_else(|| UnknownAssessorKind(s.to_string()))
    }
}

/// Active or revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeState {
    Active,
    Revoked { at: Timestamp, reason: String },
}

/// One signing key a node has had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeKey {
    /// First 32 hex digits of SHA-256 of the raw public key.
    pub key_id: KeyId,
    pub public_key: PublicKey,
    /// The node's sequence numbers this key may sign start here: one
    /// above the highest the node had used when the key was installed.
    pub first_sequence: u64,
    pub added_at: Timestamp,
    /// When and why another key replaced it; `None` for the current key.
    pub retired: Option<(Timestamp, String)>,
}

/// A registered node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// The node's id: the key id of its first key, kept across rotations.
    pub id: KeyId,
    /// Its current signing key.
    pub key: NodeKey,
    /// Keys it had before, oldest first; each retired.
    pub earlier_keys: Vec<NodeKey>,
    /// 节点名称 (Chinese display name).
    pub name: String,
    pub assessor: AssessorKind,
    /// For a township or county unit: the unit (by id) whose system it
    /// assesses, as the roster's 考核主体 column names it.
    pub assessor_unit: Option<String>,
    pub scope: Scope,
    pub added_at: Timestamp,
    pub state: NodeState,
}

/// Why a node's report is refused before its content is looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeRefusal {
    #[error("节点 {name}（{node}）已于 {at} 被吊销，原因：{reason}（node revoked）")]
    Revoked {
        node: KeyId,
        name: String,
        at: Timestamp,
        reason: String,
    },
    #[error("节点 {name}（{node}）：{violation}")]
    OutOfScope {
        node: KeyId,
        name: String,
        violation: Box<ScopeViolation>,
    },
}

impl NodeRecord {
    pub fn is_active(&self) -> bool {
        matches!(self.state, NodeState::Active)
    }

    /// Every key the node has had, the current one last.
    pub fn keys(&self) -> impl Iterator<Item = &NodeKey> {
        self.earlier_keys.iter().chain(std::iter::once(&self.key))
    }

    /// The node's key with this id, current or retired.
    pub fn key_by_id(&self, id: &KeyId) -> Option<&NodeKey> {
        self.keys().find(|k| &k.key_id == id)
    }

    /// The assessor as the roster's 考核主体 column names it; `None` for a
    /// township or county unit node registered without its unit.
    pub fn responsible(&self) -> Option<ResponsibleAssessor> {
        match self.assessor {
            AssessorKind::CountyOffice => Some(ResponsibleAssessor::CountyOffice),
            AssessorKind::Sasac => Some(ResponsibleAssessor::Sasac),
            AssessorKind::HealthCommission => Some(ResponsibleAssessor::HealthCommission),
            AssessorKind::Township | AssessorKind::CountyUnit => {
                self.assessor_unit.clone().map(ResponsibleAssessor::Unit)
            }
        }
    }

    /// The node's assessor for messages: 「乡镇 肖旗乡（xiaoqi）」.
    pub fn assessor_label(&self, view: &impl RegistryView, year: i32) -> String {
        match (&self.assessor_unit, self.assessor.is_unit()) {
            (Some(id), true) => format!(
                "{} {}",
                self.assessor,
                assessor_name(&ResponsibleAssessor::Unit(id.clone()), view, year)
            ),
            (None, true) => format!("{}（未登记考核主体单位）", self.assessor),
            _ => self.assessor.to_string(),
        }
    }

    /// May this node report `method` results on `unit` for `year`? See
    /// the module docs.
    pub fn authorize(
        &self,
        unit: &UnitRecord,
        method: &str,
        year: i32,
        view: &impl RegistryView,
    ) -> Result<(), NodeRefusal> {
        if let NodeState::Revoked { at, reason } = &self.state {
            return Err(NodeRefusal::Revoked {
                node: self.id.clone(),
                name: self.name.clone(),
                at: *at,
                reason: reason.clone(),
            });
        }
        let refuse = |violation| NodeRefusal::OutOfScope {
            node: self.id.clone(),
            name: self.name.clone(),
            violation: Box::new(violation),
        };
        self.scope.check(unit, method, year, view).map_err(refuse)?;
        self.check_assessor(unit, view).map_err(refuse)
    }

    /// Whether the node may report anything on `unit`: its scope covers
    /// the unit and the roster gives the unit to the node's assessor.
    pub fn may_report(&self, unit: &UnitRecord, view: &impl RegistryView) -> bool {
        self.scope.covers_unit(unit, view) && self.check_assessor(unit, view).is_ok()
    }

    /// The roster's half of [`authorize`](Self::authorize): the unit's
    /// 考核主体 is this node's assessor, or it is the node's own unit and
    /// the scope says it covers it.
    pub fn check_assessor(
        &self,
        unit: &UnitRecord,
        view: &impl RegistryView,
    ) -> Result<(), ScopeViolation> {
        let responsible = self.responsible();
        if responsible.as_ref() == Some(&unit.assessor) {
            return Ok(());
        }
        let own = self.assessor_unit.as_deref() == Some(unit.id.as_str());
        if own && self.scope.own_unit {
            return Ok(());
        }
        let hint = if own {
            "；本单位自评须在授权范围中写明（kaohe hub node edit --own-unit）".to_string()
        } else if responsible.is_none() {
            "；本节点未登记所代表的单位，请用 kaohe hub node edit --assessor-unit 补登".to_string()
        } else {
            String::new()
        };
        Err(ScopeViolation::NotTheAssessor {
            unit_id: unit.id.clone(),
            unit_name: unit.name.clone(),
            year: unit.year,
            roster: assessor_name(&unit.assessor, view, unit.year),
            node: self.assessor_label(view, unit.year),
            hint,
        })
    }
}

/// A 考核主体 for messages: the county-level names, or a unit's name and
/// id as the roster of `year` has it.
pub fn assessor_name(a: &ResponsibleAssessor, view: &impl RegistryView, year: i32) -> String {
    match a {
        ResponsibleAssessor::Unit(id) => match view.unit(year, id) {
            Some(u) => format!("{}（{id}）", u.name),
            None => format!("单位 {id}"),
        },
        other => other.to_string(),
    }
}

/// A node to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNode {
    pub name: String,
    pub assessor: AssessorKind,
    /// Required for a township or county unit, refused otherwise.
    pub assessor_unit: Option<String>,
    /// `ed25519:<base64>`.
    pub public_key: String,
    pub scope: Scope,
}

/// The assessor and its unit do not fit together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssessorUnitError {
    #[error(
        "考核主体类型为{kind}的节点须写明它代表哪个单位：--assessor-unit <单位编号>，与名册「考核主体」列所写的单位编号相同（assessor unit required）"
    )]
    Required { kind: AssessorKind },
    #[error(
        "考核主体类型为{kind}的节点不代表名册中的单位，不能给出 --assessor-unit（{unit}）（assessor unit not allowed）"
    )]
    NotAllowed { kind: AssessorKind, unit: String },
    #[error("单位编号「{0}」格式不对（bad unit id）")]
    BadId(String),
}

/// Checks a kind and its unit; returns the unit trimmed.
pub fn check_assessor_unit(
    kind: AssessorKind,
    unit: Option<&str>,
) -> Result<Option<String>, AssessorUnitError> {
    let unit = unit.map(str::trim).filter(|u| !u.is_empty());
    match (kind.is_unit(), unit) {
        (true, None) => Err(AssessorUnitError::Required { kind }),
        (false, Some(u)) => Err(AssessorUnitError::NotAllowed {
            kind,
            unit: u.to_string(),
        }),
        (false, None) => Ok(None),
        (true, Some(u)) => {
            let ok = !u.is_empty()
                && u.chars().count() <= 64
                && u.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
            if ok {
                Ok(Some(u.to_string()))
            } else {
                Err(AssessorUnitError::BadId(u.to_string()))
            }
        }
    }
}

/// Registering a node failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum AddNodeError {
    #[error("节点名称不能为空（node name is empty）")]
    EmptyName,
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Scope(#[from] InvalidScope),
    #[error(transparent)]
    AssessorUnit(#[from] AssessorUnitError),
    #[error(
        "该公钥（密钥编号 {key_id}）已登记为节点「{existing}」的密钥，每个密钥只能登记一次；如是更换密钥，请用 kaohe hub node rotate-key（key already registered）"
    )]
    DuplicateKey { key_id: KeyId, existing: String },
    #[error(
        "已有同名的有效节点「{name}」（节点编号 {node}）；要修改它的授权范围请用 kaohe hub node edit，要更换它的密钥请用 kaohe hub node rotate-key，否则换一个名称（duplicate active node name）"
    )]
    DuplicateName { name: String, node: String },
    #[error("登记节点失败，已回滚（cannot store node, rolled back）：{0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Finding a node by key id or name failed.
#[derive(Debug, thiserror::Error)]
pub enum FindNodeError {
    #[error(
        "没有找到节点「{query}」：请给出节点编号、密钥编号、公钥或节点名称，可用 kaohe hub node list 查看（node not found）"
    )]
    NotFound { query: String },
    #[error("「{query}」对应多个节点：{}；请改用节点编号（ambiguous node）", candidates.join("、"))]
    Ambiguous {
        query: String,
        candidates: Vec<String>,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Revoking a node failed; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum RevokeNodeError {
    #[error("吊销原因不能为空（revocation reason is empty）")]
    EmptyReason,
    #[error(transparent)]
    Find(#[from] FindNodeError),
    #[error("节点 {name}（{node}）已于 {at} 被吊销（already revoked）")]
    AlreadyRevoked {
        node: KeyId,
        name: String,
        at: Timestamp,
    },
    #[error("吊销节点失败，已回滚（cannot revoke node, rolled back）：{0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Registers a node (audit-logged).
pub fn add_node(
    conn: &mut Connection,
    new: NewNode,
    actor: &Actor,
) -> Result<NodeRecord, AddNodeError> {
    let name = new.name.trim().to_string();
    if name.is_empty() {
        return Err(AddNodeError::EmptyName);
    }
    let public_key = PublicKey::parse(new.public_key.trim())?;
    let key_id = public_key.key_id();
    new.scope.validate()?;
    let assessor_unit = check_assessor_unit(new.assessor, new.assessor_unit.as_deref())?;
    let tx = conn.transaction()?;
    if let Some(existing) = key_owner(&tx, &key_id)? {
        return Err(AddNodeError::DuplicateKey { key_id, existing });
    }
    if let Some(node) = tx
        .query_row(
            "SELECT key_id FROM nodes WHERE name = ?1 AND revoked_at IS NULL",
            [&name],
            |r| r.get::<_, String>(0),
        )
        .optional()?
    {
        return Err(AddNodeError::DuplicateName { name, node });
    }
    let scope_json = serde_json::to_string(&new.scope)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    tx.execute(
        "INSERT INTO nodes (key_id, public_key, name, assessor, scope, added_at, assessor_unit)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            key_id.as_str(),
            public_key.to_string(),
            name,
            new.assessor.id(),
            scope_json,
            actor.at.to_string(),
            assessor_unit,
        ],
    )?;
    tx.execute(
        "INSERT INTO node_keys (key_id, node_id, public_key, first_sequence, added_at)
         VALUES (?1, ?1, ?2, 1, ?3)",
        params![
            key_id.as_str(),
            public_key.to_string(),
            actor.at.to_string()
        ],
    )?;
    audit::append(
        &tx,
        actor,
        audit::action::NODE_ADD,
        &format!("node/{key_id}"),
        &json!({
            "key_id": key_id,
            "public_key": public_key,
            "name": name,
            "assessor": new.assessor.id(),
            "assessor_unit": assessor_unit,
            "scope": new.scope,
        }),
    )?;
    tx.commit()?;
    Ok(NodeRecord {
        id: key_id.clone(),
        key: NodeKey {
            key_id,
            public_key,
            first_sequence: 1,
            added_at: actor.at,
            retired: None,
        },
        earlier_keys: Vec::new(),
        name,
        assessor: new.assessor,
        assessor_unit,
        scope: new.scope,
        added_at: actor.at,
        state: NodeState::Active,
    })
}

/// The name of the node that has (or had) this key, if any.
fn key_owner(conn: &Connection, key_id: &KeyId) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT n.name FROM node_keys k JOIN nodes n ON n.key_id = k.node_id WHERE k.key_id = ?1",
        [key_id.as_str()],
        |r| r.get::<_, String>(0),
    )
    .optional()
}

/// All nodes, active first, then by name.
pub fn list_nodes(conn: &Connection) -> Result<Vec<NodeRecord>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {NODE_COLUMNS} FROM nodes ORDER BY revoked_at IS NOT NULL, name, key_id"
    ))?;
    let rows = stmt
        .query_map([], raw_node)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut keys = all_keys(conn)?;
    rows.into_iter()
        .map(|raw| {
            let node_keys = keys.remove(&raw.0).unwrap_or_default();
            decode_node(raw, node_keys)
        })
        .collect()
}

/// The node with this id, or the node that has (or had) this key.
pub fn node_by_key_id(conn: &Connection, key_id: &KeyId) -> Result<Option<NodeRecord>, StoreError> {
    let node_id: Option<String> = conn
        .query_row(
            "SELECT node_id FROM node_keys WHERE key_id = ?1",
            [key_id.as_str()],
            |r| r.get(0),
        )
        .optional()?;
    let Some(node_id) = node_id else {
        return Ok(None);
    };
    let raw = conn
        .query_row(
            &format!("SELECT {NODE_COLUMNS} FROM nodes WHERE key_id = ?1"),
            [&node_id],
            raw_node,
        )
        .optional()?;
    let Some(raw) = raw else { return Ok(None) };
    let keys = node_keys(conn, &node_id)?;
    decode_node(raw, keys).map(Some)
}

/// Finds a node by node id, key id (current or earlier), public key text,
/// or name (an active node of that name first; a revoked one only if no
/// active node has it).
pub fn find_node(conn: &Connection, query: &str) -> Result<NodeRecord, FindNodeError> {
    let query = query.trim();
    let key_id = match PublicKey::parse(query) {
        Ok(key) => Some(key.key_id()),
        Err(_) => query.to_ascii_lowercase().parse::<KeyId>().ok(),
    };
    if let Some(key_id) = key_id
        && let Some(node) = node_by_key_id(conn, &key_id)?
    {
        return Ok(node);
    }
    let named: Vec<NodeRecord> = list_nodes(conn)?
        .into_iter()
        .filter(|n| n.name == query)
        .collect();
    let active: Vec<&NodeRecord> = named.iter().filter(|n| n.is_active()).collect();
    match (active.as_slice(), named.as_slice()) {
        ([one], _) => Ok((*one).clone()),
        ([], [one]) => Ok(one.clone()),
        ([], []) => Err(FindNodeError::NotFound {
            query: query.to_string(),
        }),
        _ => Err(FindNodeError::Ambiguous {
            query: query.to_string(),
            candidates: named.iter().map(|n| n.id.to_string()).collect(),
        }),
    }
}

/// Revokes a node (audit-logged). `query` as in [`find_node`].
pub fn revoke_node(
    conn: &mut Connection,
    query: &str,
    reason: &str,
    actor: &Actor,
) -> Result<NodeRecord, RevokeNodeError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(RevokeNodeError::EmptyReason);
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut node = find_node(&tx, query)?;
    if let NodeState::Revoked { at, .. } = node.state {
        return Err(RevokeNodeError::AlreadyRevoked {
            node: node.id,
            name: node.name,
            at,
        });
    }
    tx.execute(
        "UPDATE nodes SET revoked_at = ?1, revocation_reason = ?2 WHERE key_id = ?3",
        params![actor.at.to_string(), reason, node.id.as_str()],
    )?;
    audit::append(
        &tx,
        actor,
        audit::action::NODE_REVOKE,
        &format!("node/{}", node.id),
        &json!({ "key_id": node.id, "name": node.name, "reason": reason }),
    )?;
    tx.commit()?;
    node.state = NodeState::Revoked {
        at: actor.at,
        reason: reason.to_string(),
    };
    Ok(node)
}

const NODE_COLUMNS: &str =
    "key_id, name, assessor, scope, added_at, revoked_at, revocation_reason, assessor_unit";

type RawNode = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn raw_node(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawNode> {
    RawNode::try_from(r)
}

type RawKey = (String, String, i64, String, Option<String>, Option<String>);

const KEY_COLUMNS: &str =
    "key_id, public_key, first_sequence, added_at, retired_at, retired_reason";

/// Every node's keys by node id: retired ones in the order they were
/// retired, the current one last.
fn all_keys(conn: &Connection) -> rusqlite::Result<std::collections::HashMap<String, Vec<RawKey>>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT node_id, {KEY_COLUMNS} FROM node_keys ORDER BY node_id, retired_at IS NULL, retired_at, added_at, key_id"
    ))?;
    let mut out: std::collections::HashMap<String, Vec<RawKey>> = Default::default();
    for row in stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            (
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
            ),
        ))
    })? {
        let (node, key) = row?;
        out.entry(node).or_default().push(key);
    }
    Ok(out)
}

fn node_keys(conn: &Connection, node_id: &str) -> rusqlite::Result<Vec<RawKey>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {KEY_COLUMNS} FROM node_keys WHERE node_id = ?1 ORDER BY retired_at IS NULL, retired_at, added_at, key_id"
    ))?;
    stmt.query_map([node_id], |r| RawKey::try_from(r))?
        .collect()
}

fn decode_node(raw: RawNode, keys: Vec<RawKey>) -> Result<NodeRecord, StoreError> {
    let (id, name, assessor, scope, added_at, revoked_at, reason, assessor_unit) = raw;
    let corrupt = |detail: String| StoreError::Corrupt {
        table: "nodes",
        key: id.clone(),
        detail,
    };
    let node_id = id
        .parse::<KeyId>()
        .map_err(|e| corrupt(format!("key_id: {e}")))?;
    let mut decoded = Vec::with_capacity(keys.len());
    for (key_id, public_key, first_sequence, key_added, retired_at, retired_reason) in keys {
        let public_key =
            PublicKey::parse(&public_key).map_err(|e| corrupt(format!("public_key: {e}")))?;
        let key_id = key_id
            .parse::<KeyId>()
            .map_err(|e| corrupt(format!("node_keys.key_id: {e}")))?;
        if public_key.key_id() != key_id {
            return Err(corrupt(format!(
                "key {key_id} does not belong to its public key"
            )));
        }
        let retired = match (retired_at, retired_reason) {
            (Some(at), Some(why)) => Some((
                at.parse()
                    .map_err(|e| corrupt(format!("retired_at: {e}")))?,
                why,
            )),
            _ => None,
        };
        decoded.push(NodeKey {
            key_id,
            public_key,
            first_sequence: u64::try_from(first_sequence).unwrap_or(1),
            added_at: key_added
                .parse()
                .map_err(|e| corrupt(format!("node_keys.added_at: {e}")))?,
            retired,
        });
    }
    if !decoded.iter().any(|k| k.key_id == node_id) {
        return Err(corrupt(
            "the node's own key is not among its keys".to_string(),
        ));
    }
    let current: Vec<usize> = (0..decoded.len())
        .filter(|&i| decoded[i].retired.is_none())
        .collect();
    let [current] = current.as_slice() else {
        return Err(corrupt(format!(
            "{} current keys, expected exactly one",
            current.len()
        )));
    };
    let key = decoded.remove(*current);
    let assessor = assessor
        .parse()
        .map_err(|e: UnknownAssessorKind| corrupt(e.to_string()))?;
    let scope: Scope = serde_json::from_str(&scope).map_err(|e| corrupt(format!("scope: {e}")))?;
    let added_at = added_at
        .parse()
        .map_err(|e| corrupt(format!("added_at: {e}")))?;
    let state = match (revoked_at, reason) {
        (Some(at), Some(reason)) => NodeState::Revoked {
            at: at
                .parse()
                .map_err(|e| corrupt(format!("revoked_at: {e}")))?,
            reason,
        },
        _ => NodeState::Active,
    };
    Ok(NodeRecord {
        id: node_id,
        key,
        earlier_keys: decoded,
        name,
        assessor,
        assessor_unit,
        scope,
        added_at,
        state,
    })
}
