//! 节点（nodes）：考核主体的本地节点，以公钥识别。
//!
//! A node is identified by its key: the key id is the primary key, and a
//! submission's node is the key that signed it. A node is never deleted;
//! revocation records when and why, and a revoked node's reports are refused.
//! Key rotation = revoke the old node, add a new one (same name allowed once
//! the old one is revoked).

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;

use kaohe_proto::keys::{KeyError, KeyId, PublicKey};

use super::StoreError;
use super::scope::{InvalidScope, RegistryView, Scope, ScopeViolation};
use super::units::UnitRecord;
use crate::audit::{self, Actor};

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

/// A registered node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRecord {
    /// First 32 hex digits of SHA-256 of the raw public key.
    pub key_id: KeyId,
    pub public_key: PublicKey,
    /// 节点名称 (Chinese display name).
    pub name: String,
    pub assessor: AssessorKind,
    pub scope: Scope,
    pub added_at: Timestamp,
    pub state: NodeState,
}

/// Why a node's report is refused before its content is looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeRefusal {
    #[error("节点 {name}（{key_id}）已于 {at} 被吊销，原因：{reason}（node revoked）")]
    Revoked {
        key_id: KeyId,
        name: String,
        at: Timestamp,
        reason: String,
    },
    #[error("节点 {name}（{key_id}）：{violation}")]
    OutOfScope {
        key_id: KeyId,
        name: String,
        violation: Box<ScopeViolation>,
    },
}

impl NodeRecord {
    pub fn is_active(&self) -> bool {
        matches!(self.state, NodeState::Active)
    }

    /// May this node report `method` results on `unit` for `year`?
    pub fn authorize(
        &self,
        unit: &UnitRecord,
        method: &str,
        year: i32,
        view: &impl RegistryView,
    ) -> Result<(), NodeRefusal> {
        if let NodeState::Revoked { at, reason } = &self.state {
            return Err(NodeRefusal::Revoked {
                key_id: self.key_id.clone(),
                name: self.name.clone(),
                at: *at,
                reason: reason.clone(),
            });
        }
        self.scope
            .check(unit, method, year, view)
            .map_err(|violation| NodeRefusal::OutOfScope {
                key_id: self.key_id.clone(),
                name: self.name.clone(),
                violation: Box::new(violation),
            })
    }
}

/// A node to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNode {
    pub name: String,
    pub assessor: AssessorKind,
    /// `ed25519:<base64>`.
    pub public_key: String,
    pub scope: Scope,
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
    #[error("该公钥（密钥编号 {key_id}）已登记为节点「{existing}」（key already registered）")]
    DuplicateKey { key_id: KeyId, existing: String },
    #[error(
        "已有同名的有效节点「{name}」（密钥编号 {key_id}）；请先吊销它或换一个名称（duplicate active node name）"
    )]
    DuplicateName { name: String, key_id: String },
    #[error("登记节点失败，已回滚（cannot store node, rolled back）：{0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Finding a node by key id or name failed.
#[derive(Debug, thiserror::Error)]
pub enum FindNodeError {
    #[error("没有找到节点「{query}」：请给出密钥编号、公钥或节点名称（node not found）")]
    NotFound { query: String },
    #[error("「{query}」对应多个节点：{}；请改用密钥编号（ambiguous node）", candidates.join("、"))]
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
    #[error("节点 {name}（{key_id}）已于 {at} 被吊销（already revoked）")]
    AlreadyRevoked {
        key_id: KeyId,
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
    let tx = conn.transaction()?;
    if let Some(existing) = tx
        .query_row(
            "SELECT name FROM nodes WHERE key_id = ?1",
            [key_id.as_str()],
            |r| r.get::<_, String>(0),
        )
        .optional()?
    {
        return Err(AddNodeError::DuplicateKey { key_id, existing });
    }
    if let Some(key_id) = tx
        .query_row(
            "SELECT key_id FROM nodes WHERE name = ?1 AND revoked_at IS NULL",
            [&name],
            |r| r.get::<_, String>(0),
        )
        .optional()?
    {
        return Err(AddNodeError::DuplicateName { name, key_id });
    }
    let scope_json = serde_json::to_string(&new.scope)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    tx.execute(
        "INSERT INTO nodes (key_id, public_key, name, assessor, scope, added_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            key_id.as_str(),
            public_key.to_string(),
            name,
            new.assessor.id(),
            scope_json,
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
            "scope": new.scope,
        }),
    )?;
    tx.commit()?;
    Ok(NodeRecord {
        key_id,
        public_key,
        name,
        assessor: new.assessor,
        scope: new.scope,
        added_at: actor.at,
        state: NodeState::Active,
    })
}

/// All nodes, active first, then by name.
pub fn list_nodes(conn: &Connection) -> Result<Vec<NodeRecord>, StoreError> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {NODE_COLUMNS} FROM nodes ORDER BY revoked_at IS NOT NULL, name, key_id"
    ))?;
    let rows = stmt.query_map([], raw_node)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(decode_node(row?)?);
    }
    Ok(out)
}

/// The node with this key id (the signer of a submission).
pub fn node_by_key_id(conn: &Connection, key_id: &KeyId) -> Result<Option<NodeRecord>, StoreError> {
    let raw = conn
        .query_row(
            &format!("SELECT {NODE_COLUMNS} FROM nodes WHERE key_id = ?1"),
            [key_id.as_str()],
            raw_node,
        )
        .optional()?;
    raw.map(decode_node).transpose()
}

/// Finds a node by key id, public key text, or name (an active node of that
/// name first; a revoked one only if no active node has it).
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
            candidates: named.iter().map(|n| n.key_id.to_string()).collect(),
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
    let tx = conn.transaction()?;
    let mut node = find_node(&tx, query)?;
    if let NodeState::Revoked { at, .. } = node.state {
        return Err(RevokeNodeError::AlreadyRevoked {
            key_id: node.key_id,
            name: node.name,
            at,
        });
    }
    tx.execute(
        "UPDATE nodes SET revoked_at = ?1, revocation_reason = ?2 WHERE key_id = ?3",
        params![actor.at.to_string(), reason, node.key_id.as_str()],
    )?;
    audit::append(
        &tx,
        actor,
        audit::action::NODE_REVOKE,
        &format!("node/{}", node.key_id),
        &json!({ "key_id": node.key_id, "name": node.name, "reason": reason }),
    )?;
    tx.commit()?;
    node.state = NodeState::Revoked {
        at: actor.at,
        reason: reason.to_string(),
    };
    Ok(node)
}

const NODE_COLUMNS: &str =
    "key_id, public_key, name, assessor, scope, added_at, revoked_at, revocation_reason";

type RawNode = (
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn raw_node(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawNode> {
    RawNode::try_from(r)
}

fn decode_node(raw: RawNode) -> Result<NodeRecord, StoreError> {
    let (key_id, public_key, name, assessor, scope, added_at, revoked_at, reason) = raw;
    let corrupt = |detail: String| StoreError::Corrupt {
        table: "nodes",
        key: key_id.clone(),
        detail,
    };
    let public_key =
        PublicKey::parse(&public_key).map_err(|e| corrupt(format!("public_key: {e}")))?;
    let key_id = key_id
        .parse::<KeyId>()
        .map_err(|e| corrupt(format!("key_id: {e}")))?;
    if public_key.key_id() != key_id {
        return Err(corrupt("key_id does not belong to public_key".to_string()));
    }
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
        key_id,
        public_key,
        name,
        assessor,
        scope,
        added_at,
        state,
    })
}

/// Warnings for a scope just registered: years without a roster, and
/// units named in a scope that no roster of the scope's years contains.
pub fn scope_warnings(conn: &Connection, scope: &Scope) -> Result<Vec<String>, StoreError> {
    let mut warnings = Vec::new();
    let with_roster: Vec<i32> = super::units::roster_years(conn)?
        .into_iter()
        .map(|(y, _)| y)
        .filter(|y| scope.years.contains(y))
        .collect();
    for year in &scope.years {
        if !with_roster.contains(year) {
            warnings.push(format!(
                "尚未导入 {year} 年度名册（no roster for {year} yet）"
            ));
        }
    }
    for id in scope.subtrees.iter().chain(&scope.units) {
        let mut found = false;
        for &year in &with_roster {
            found |= super::units::load_unit(conn, year, id)?.is_some();
        }
        if !with_roster.is_empty() && !found {
            warnings.push(format!(
                "单位 {id} 不在已导入的授权年度名册中，这一项不授权任何单位（unit not in any roster）"
            ));
        }
    }
    Ok(warnings)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::registry::units::YearRoster;
    use crate::registry::units::tests::unit;
    use kaohe_proto::keys::SigningKeyPair;

    /// A valid public key, different for each `seed`.
    pub(crate) fn key(seed: u8) -> String {
        SigningKeyPair::from_seed(&[seed; 32]).public().to_string()
    }

    fn actor(at: &str) -> Actor {
        Actor::new("zhang", at.parse().unwrap())
    }

    fn township_scope() -> Scope {
        Scope {
            categories: ["township".to_string()].into(),
            methods: ["daily".to_string()].into(),
            years: [2024].into(),
            ..Scope::default()
        }
    }

    fn new_node(name: &str, byte: u8) -> NewNode {
        NewNode {
            name: name.into(),
            assessor: AssessorKind::CountyOffice,
            public_key: key(byte),
            scope: township_scope(),
        }
    }

    #[test]
    fn a_node_is_added_listed_and_found_by_key_id_key_or_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::create(dir.path()).unwrap();
        let added = add_node(
            &mut conn,
            new_node("依法治县办节点", 1),
            &actor("2024-01-05T02:00:00Z"),
        )
        .unwrap();
        assert_eq!(added.key_id, SigningKeyPair::from_seed(&[1; 32]).key_id());
        assert_eq!(list_nodes(&conn).unwrap(), vec![added.clone()]);
        assert_eq!(find_node(&conn, added.key_id.as_str()).unwrap(), added);
        assert_eq!(find_node(&conn, &key(1)).unwrap(), added);
        assert_eq!(find_node(&conn, "依法治县办节点").unwrap(), added);
        assert!(matches!(
            find_node(&conn, "nobody"),
            Err(FindNodeError::NotFound { .. })
        ));
        let log = audit::recent(&conn, 5).unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].action, audit::action::NODE_ADD);
        assert_eq!(log[0].detail["scope"]["categories"], json!(["township"]));
    }

    #[test]
    fn the_same_key_or_an_active_name_cannot_be_registered_twice() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::create(dir.path()).unwrap();
        let at = actor("2024-01-05T02:00:00Z");
        add_node(&mut conn, new_node("甲", 1), &at).unwrap();
        assert!(matches!(
            add_node(&mut conn, new_node("乙", 1), &at),
            Err(AddNodeError::DuplicateKey { .. })
        ));
        assert!(matches!(
            add_node(&mut conn, new_node("甲", 2), &at),
            Err(AddNodeError::DuplicateName { .. })
        ));
        let mut bad = new_node("丙", 3);
        bad.scope.methods.clear();
        assert!(matches!(
            add_node(&mut conn, bad, &at),
            Err(AddNodeError::Scope(_))
        ));
        let mut bad = new_node("丁", 4);
        bad.public_key = "ed25519:AAAA".into();
        assert!(matches!(
            add_node(&mut conn, bad, &at),
            Err(AddNodeError::Key(_))
        ));
        // A small-order point is refused (verification must be strict).
        let mut weak = new_node("戊", 5);
        // The identity point (y = 1), of order 1.
        weak.public_key = "ed25519:AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into();
        assert!(matches!(
            add_node(&mut conn, weak, &at),
            Err(AddNodeError::Key(_))
        ));
        assert_eq!(list_nodes(&conn).unwrap().len(), 1);
        assert_eq!(audit::recent(&conn, 10).unwrap().len(), 1);
    }

    #[test]
    fn a_revoked_node_is_refused_and_its_name_can_be_reused_by_a_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = crate::db::create(dir.path()).unwrap();
        let node = add_node(
            &mut conn,
            new_node("肖旗乡节点", 1),
            &actor("2024-01-05T02:00:00Z"),
        )
        .unwrap();
        let roster = YearRoster {
            year: 2024,
            units: [("t1".to_string(), unit(2024, "t1", "township", None))].into(),
        };
        let t1 = roster.get("t1").unwrap();
        assert_eq!(node.authorize(t1, "daily", 2024, &roster), Ok(()));

        assert!(matches!(
            revoke_node(
                &mut conn,
                node.key_id.as_str(),
                "  ",
                &actor("2024-06-01T00:00:00Z")
            ),
            Err(RevokeNodeError::EmptyReason)
        ));
        let revoked = revoke_node(
            &mut conn,
            "肖旗乡节点",
            "密钥遗失",
            &actor("2024-06-01T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(
            revoked.state,
            NodeState::Revoked {
                at: "2024-06-01T00:00:00Z".parse().unwrap(),
                reason: "密钥遗失".into()
            }
        );
        let stored = node_by_key_id(&conn, &node.key_id).unwrap().unwrap();
        assert_eq!(stored, revoked);
        let refusal = stored.authorize(t1, "daily", 2024, &roster).unwrap_err();
        assert!(matches!(refusal, NodeRefusal::Revoked { .. }));
        assert!(refusal.to_string().contains("密钥遗失"), "{refusal}");

        assert!(matches!(
            revoke_node(
                &mut conn,
                node.key_id.as_str(),
                "again",
                &actor("2024-06-02T00:00:00Z")
            ),
            Err(RevokeNodeError::AlreadyRevoked { .. })
        ));
        // Key rotation: the same name with a new key.
        let fresh = add_node(
            &mut conn,
            new_node("肖旗乡节点", 2),
            &actor("2024-06-03T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(find_node(&conn, "肖旗乡节点").unwrap(), fresh);
        let nodes = list_nodes(&conn).unwrap();
        assert_eq!(nodes.len(), 2);
        assert!(nodes[0].is_active(), "active nodes are listed first");

        let log = audit::recent(&conn, 10).unwrap();
        let actions: Vec<&str> = log.iter().map(|r| r.action.as_str()).collect();
        assert_eq!(actions, vec!["node.add", "node.revoke", "node.add"]);
        assert_eq!(log[1].detail["reason"], json!("密钥遗失"));
    }

    #[test]
    fn assessor_kinds_parse_from_ids_and_chinese() {
        assert_eq!("sasac".parse(), Ok(AssessorKind::Sasac));
        assert_eq!("卫健委".parse(), Ok(AssessorKind::HealthCommission));
        assert!("police".parse::<AssessorKind>().is_err());
    }
}
