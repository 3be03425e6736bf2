//! `kaohe hub node add | list | edit | rotate-key | revoke`: the nodes,
//! their delegated scope and their keys.

use std::collections::BTreeSet;

use kaohe_tables::terminal;
use rusqlite::Connection;

use super::{Invocation, beijing};
use crate::registration;
use crate::registry::nodes::change::{self, NodeEdit};
use crate::registry::nodes::{self, AssessorKind, NewNode, NodeRecord, NodeState};
use crate::registry::scope::Scope;

#[derive(Debug, clap::Subcommand)]
pub enum NodeCommand {
    /// 登记节点及其授权范围：单位（类别、下级单位树、单位清单）× 考核方式 × 年度；
    /// 节点只能上报名册上由其考核主体考核的单位（register a node and its scope）
    Add {
        /// 节点名称（display name），如「肖旗乡考核节点」
        #[arg(long, value_name = "名称")]
        name: String,
        /// 考核主体类型（assessor kind）：county_office 依法治县办、sasac 国资局、
        /// health_commission 卫健委、township 乡镇、county_unit 县直单位
        #[arg(long, value_name = "类型")]
        assessor: AssessorKind,
        /// 乡镇、县直单位节点所代表的单位编号，与名册「考核主体」列所写相同，如 xiaoqi
        /// （the unit a township or county-unit node assesses for）
        #[arg(long, value_name = "单位编号")]
        assessor_unit: Option<String>,
        /// 节点公钥（public key），形如 ed25519:<base64>
        #[arg(long, value_name = "公钥")]
        key: String,
        #[command(flatten)]
        scope: ScopeArgs,
        /// 本单位自评：允许本节点上报它所代表的单位本身（须考核方案允许）
        /// （the node may also report its own unit）
        #[arg(long)]
        own_unit: bool,
    },
    /// 列出全部节点及其密钥（list nodes）
    List,
    /// 修改节点的授权范围或所代表的单位，原因记入审计日志；只改给出的项
    /// （edit a node's scope, audited）
    Edit {
        /// 节点：节点编号、密钥编号、公钥或节点名称（node id, key id, key or name）
        #[arg(value_name = "节点")]
        node: String,
        /// 新的授权类别，逗号分隔；给空值 '' 即清空（new categories）
        #[arg(long, value_delimiter = ',', value_name = "类别")]
        categories: Option<Vec<String>>,
        /// 新的下级单位树，逗号分隔；给空值 '' 即清空（new subtrees）
        #[arg(long, value_delimiter = ',', value_name = "单位编号")]
        subtrees: Option<Vec<String>>,
        /// 新的单位清单，逗号分隔；给空值 '' 即清空（new units）
        #[arg(long, value_delimiter = ',', value_name = "单位编号")]
        units: Option<Vec<String>>,
        /// 新的考核方式，逗号分隔（new methods）
        #[arg(long, value_delimiter = ',', value_name = "方式")]
        methods: Option<Vec<String>>,
        /// 新的年度，逗号分隔（new years）
        #[arg(long, value_delimiter = ',', value_name = "年度")]
        years: Option<Vec<i32>>,
        /// 本单位自评：--own-unit 或 --own-unit true 允许，--own-unit false 取消
        /// （allow or withdraw reporting the node's own unit）
        #[arg(long, value_name = "true|false", num_args = 0..=1, default_missing_value = "true")]
        own_unit: Option<bool>,
        /// 乡镇、县直单位节点所代表的单位编号（the unit the node assesses for）
        #[arg(long, value_name = "单位编号")]
        assessor_unit: Option<String>,
        /// 修改原因（reason），记入审计日志
        #[arg(long, value_name = "原因")]
        reason: String,
    },
    /// 更换节点密钥：节点身份、授权范围和已上报的结果不变，序号接续；
    /// 旧密钥此后不能再上报（rotate a node's key, keeping its history）
    RotateKey {
        /// 节点：节点编号、密钥编号、公钥或节点名称（node id, key id, key or name）
        #[arg(value_name = "节点")]
        node: String,
        /// 新公钥（new public key），`kaohe node rotate-key prepare` 显示的 ed25519:<base64>
        #[arg(long, value_name = "公钥")]
        key: String,
        /// 更换原因（reason），记入审计日志
        #[arg(long, value_name = "原因")]
        reason: String,
    },
    /// 吊销节点，此后其上报一律拒收（revoke a node）
    Revoke {
        /// 节点：节点编号、密钥编号、公钥或节点名称（node id, key id, key or name）
        #[arg(value_name = "节点")]
        node: String,
        /// 吊销原因（reason），记入审计日志
        #[arg(long, value_name = "原因")]
        reason: String,
    },
}

/// The scope a node is registered with.
#[derive(Debug, Clone, clap::Args)]
pub struct ScopeArgs {
    /// 授权的单位类别，逗号分隔（categories），如 township,department
    #[arg(long, value_delimiter = ',', value_name = "类别")]
    pub categories: Vec<String>,
    /// 授权的单位（含其全部下级单位），逗号分隔（subtrees rooted at these units）
    #[arg(long, value_delimiter = ',', value_name = "单位编号")]
    pub subtrees: Vec<String>,
    /// 授权的单位清单，逗号分隔（explicit units）
    #[arg(long, value_delimiter = ',', value_name = "单位编号")]
    pub units: Vec<String>,
    /// 授权的考核方式，逗号分隔（methods）：daily, supervision, file_review,
    /// online_check, field_inspection, satisfaction, bonus_penalty
    #[arg(long, value_delimiter = ',', required = true, value_name = "方式")]
    pub methods: Vec<String>,
    /// 授权的年度，逗号分隔（years），如 2024,2025
    #[arg(long, value_delimiter = ',', required = true, value_name = "年度")]
    pub years: Vec<i32>,
}

pub(super) fn run(inv: &Invocation, command: NodeCommand) -> anyhow::Result<()> {
    match command {
        NodeCommand::Add {
            name,
            assessor,
            assessor_unit,
            key,
            scope,
            own_unit,
        } => {
            let actor = inv.actor()?;
            let mut conn = inv.open()?;
            let scope = Scope {
                categories: clean_list(scope.categories),
                subtrees: clean_list(scope.subtrees),
                units: clean_list(scope.units),
                methods: clean_list(scope.methods),
                years: scope.years.into_iter().collect(),
                own_unit,
            };
            let node = nodes::add_node(
                &mut conn,
                NewNode {
                    name,
                    assessor,
                    assessor_unit,
                    public_key: key,
                    scope,
                },
                &actor,
            )?;
            println!(
                "已登记节点「{}」，节点编号 {}（node registered）\n授权范围：{}",
                node.name, node.id, node.scope
            );
            print_warnings(inv, &conn, &node)?;
        }
        NodeCommand::List => {
            let conn = inv.open()?;
            list_nodes(&conn)?;
        }
        NodeCommand::Edit {
            node,
            categories,
            subtrees,
            units,
            methods,
            years,
            own_unit,
            assessor_unit,
            reason,
        } => {
            let actor = inv.actor()?;
            let mut conn = inv.open()?;
            let edit = NodeEdit {
                categories: categories.map(clean_list),
                subtrees: subtrees.map(clean_list),
                units: units.map(clean_list),
                methods: methods.map(clean_list),
                years: years.map(|y| y.into_iter().collect()),
                own_unit,
                assessor_unit,
            };
            let edited = change::edit_node(&mut conn, &node, &edit, &reason, &actor)?;
            println!(
                "已修改节点「{}」（{}），原因：{}（node edited）\n原授权范围：{}\n新授权范围：{}",
                edited.after.name,
                edited.after.id,
                reason.trim(),
                describe(&edited.before),
                describe(&edited.after)
            );
            print_warnings(inv, &conn, &edited.after)?;
        }
        NodeCommand::RotateKey { node, key, reason } => {
            let actor = inv.actor()?;
            let mut conn = inv.open()?;
            let rotated = change::rotate_key(&mut conn, &node, &key, &reason, &actor)?;
            println!(
                "已为节点「{}」（{}）更换密钥（key rotated）：\n  旧密钥 {} 自即刻起不能再上报，此前已接收的上报仍属本节点、继续有效\n  新密钥 {}，从序号 {} 起签名\n节点一方请运行 `kaohe node rotate-key adopt` 改用新密钥；启用 mTLS 的，须按新密钥编号签发客户端证书",
                rotated.node.name,
                rotated.node.id,
                rotated.old.key_id,
                rotated.node.key.key_id,
                rotated.node.key.first_sequence
            );
        }
        NodeCommand::Revoke { node, reason } => {
            let actor = inv.actor()?;
            let mut conn = inv.open()?;
            let node = nodes::revoke_node(&mut conn, &node, &reason, &actor)?;
            println!(
                "已吊销节点「{}」（{}），原因：{}（node revoked）",
                node.name,
                node.id,
                reason.trim()
            );
        }
    }
    Ok(())
}

fn clean_list<T: Ord + From<String>>(items: Vec<String>) -> BTreeSet<T> {
    items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .map(T::from)
        .collect()
}

/// The assessor and the scope, for one line.
fn describe(node: &NodeRecord) -> String {
    match &node.assessor_unit {
        Some(unit) => format!("考核主体 {} {unit}；{}", node.assessor, node.scope),
        None => format!("考核主体 {}；{}", node.assessor, node.scope),
    }
}

fn list_nodes(conn: &Connection) -> anyhow::Result<()> {
    let nodes = nodes::list_nodes(conn)?;
    if nodes.is_empty() {
        println!("尚未登记任何节点（no nodes）");
        return Ok(());
    }
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            let keys = if n.earlier_keys.is_empty() {
                n.key.key_id.to_string()
            } else {
                format!(
                    "{}（此前：{}）",
                    n.key.key_id,
                    n.earlier_keys
                        .iter()
                        .map(|k| k.key_id.to_string())
                        .collect::<Vec<_>>()
                        .join("、")
                )
            };
            vec![
                n.id.to_string(),
                n.name.clone(),
                match &n.assessor_unit {
                    Some(unit) => format!("{} {unit}", n.assessor),
                    None => n.assessor.to_string(),
                },
                match &n.state {
                    NodeState::Active => "有效".to_string(),
                    NodeState::Revoked { at, reason } => {
                        format!("已吊销（{}，{reason}）", beijing(*at))
                    }
                },
                keys,
                n.scope.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        terminal::render(
            &[
                "节点编号",
                "节点名称",
                "考核主体",
                "状态",
                "现用密钥",
                "授权范围"
            ],
            &rows
        )
    );
    Ok(())
}

/// Prints what the county office should know about `node`'s scope.
fn print_warnings(inv: &Invocation, conn: &Connection, node: &NodeRecord) -> anyhow::Result<()> {
    for warning in registration::node_warnings(conn, &inv.runtime()?, node)? {
        println!("警告（warning）：{warning}");
    }
    Ok(())
}
