//! `kaohe hub node add | list | revoke`: the nodes and their delegated
//! scope.

use kaohe_tables::terminal;
use rusqlite::Connection;

use super::{Invocation, beijing};
use crate::registry::nodes::{self, AssessorKind, NewNode, NodeState};
use crate::registry::scope::Scope;

#[derive(Debug, clap::Subcommand)]
pub enum NodeCommand {
    /// 登记节点及其授权范围：单位（类别、下级单位树、单位清单）× 考核方式 × 年度
    /// （register a node and its scope）
    Add {
        /// 节点名称（display name），如「肖旗乡考核节点」
        #[arg(long, value_name = "名称")]
        name: String,
        /// 考核主体类型（assessor kind）：county_office 依法治县办、sasac 国资局、
        /// health_commission 卫健委、township 乡镇、county_unit 县直单位
        #[arg(long, value_name = "类型")]
        assessor: AssessorKind,
        /// 节点公钥（public key），形如 ed25519:<base64>
        #[arg(long, value_name = "公钥")]
        key: String,
        /// 授权的单位类别，逗号分隔（categories），如 township,department
        #[arg(long, value_delimiter = ',', value_name = "类别")]
        categories: Vec<String>,
        /// 授权的单位（含其全部下级单位），逗号分隔（subtrees rooted at these units）
        #[arg(long, value_delimiter = ',', value_name = "单位编号")]
        subtrees: Vec<String>,
        /// 授权的单位清单，逗号分隔（explicit units）
        #[arg(long, value_delimiter = ',', value_name = "单位编号")]
        units: Vec<String>,
        /// 授权的考核方式，逗号分隔（methods）：daily, supervision, file_review,
        /// online_check, field_inspection, satisfaction, bonus_penalty
        #[arg(long, value_delimiter = ',', required = true, value_name = "方式")]
        methods: Vec<String>,
        /// 授权的年度，逗号分隔（years），如 2024,2025
        #[arg(long, value_delimiter = ',', required = true, value_name = "年度")]
        years: Vec<i32>,
    },
    /// 列出全部节点（list nodes）
    List,
    /// 吊销节点，此后其上报一律拒收（revoke a node）
    Revoke {
        /// 节点：密钥编号、公钥或节点名称（key id, public key or name）
        #[arg(value_name = "节点")]
        node: String,
        /// 吊销原因（reason），记入审计日志
        #[arg(long, value_name = "原因")]
        reason: String,
    },
}

pub(super) fn run(inv: &Invocation, command: NodeCommand) -> anyhow::Result<()> {
    match command {
        NodeCommand::Add {
            name,
            assessor,
            key,
            categories,
            subtrees,
            units,
            methods,
            years,
        } => {
            let actor = inv.actor()?;
            let mut conn = inv.open()?;
            let scope = Scope {
                categories: clean_list(categories),
                subtrees: clean_list(subtrees),
                units: clean_list(units),
                methods: clean_list(methods),
                years: years.into_iter().collect(),
            };
            let node = nodes::add_node(
                &mut conn,
                NewNode {
                    name,
                    assessor,
                    public_key: key,
                    scope,
                },
                &actor,
            )?;
            println!(
                "已登记节点「{}」，密钥编号 {}（node registered）\n授权范围：{}",
                node.name, node.key_id, node.scope
            );
            for warning in nodes::scope_warnings(&conn, &node.scope)? {
                println!("警告（warning）：{warning}");
            }
        }
        NodeCommand::List => {
            let conn = inv.open()?;
            list_nodes(&conn)?;
        }
        NodeCommand::Revoke { node, reason } => {
            let actor = inv.actor()?;
            let mut conn = inv.open()?;
            let node = nodes::revoke_node(&mut conn, &node, &reason, &actor)?;
            println!(
                "已吊销节点「{}」（{}），原因：{}（node revoked）",
                node.name,
                node.key_id,
                reason.trim()
            );
        }
    }
    Ok(())
}

fn clean_list<T: Ord + From<String>>(items: Vec<String>) -> std::collections::BTreeSet<T> {
    items
        .into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .map(T::from)
        .collect()
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
            vec![
                n.key_id.to_string(),
                n.name.clone(),
                n.assessor.to_string(),
                match &n.state {
                    NodeState::Active => "有效".to_string(),
                    NodeState::Revoked { at, reason } => {
                        format!("已吊销（{}，{reason}）", beijing(*at))
                    }
                },
                n.scope.to_string(),
            ]
        })
        .collect();
    print!(
        "{}",
        terminal::render(
            &["密钥编号", "节点名称", "考核主体", "状态", "授权范围"],
            &rows
        )
    );
    Ok(())
}
