//! `ResultService`: what the hub decided for a node's units, and objections
//! filed by the node.
//!
//! - **`ListResults`** (signed call): for every unit of the year's roster in
//!   the caller's scope, the unit's consolidated standing as far as the hub
//!   knows now — recomputed from the database with the year's current pack
//!   ([`results::consolidate_year`]), the same numbers `kaohe hub results` shows:
//!   scores, grade, rank, every fired clause as a reason, and the
//!   verification and review-request deadlines once the unit was notified.
//!   The status follows the workflow: published → approved → an undecided
//!   objection (review) → notified (verification) → provisional; a unit
//!   without a score sheet is not assessed, has no scores, and says why
//!   (`not_assessed_because`: each missing report with the assessor that
//!   owes it and whether any node may report it, a double report awaiting
//!   a ruling). The hub consolidates per year, so the scores are the
//!   annual ones; a round in the request keeps only that round's reasons
//!   (fired clauses and missing reports) and is the round each result
//!   names. With them, the quarterly leaderboards (党建引领·比拼四季) of the
//!   ranked categories the caller's units are in, every unit of each board
//!   listed.
//! - **`FileObjection`** (client stream, signed call on
//!   [`FILE_OBJECTION_PATH`]): header, then the material, reassembled by
//!   [`ObjectionAssembler`] (declared size and SHA-256, chunk and total
//!   caps), the unit checked against the caller's scope, then recorded by
//!   [`workflow::object`] — so the deadline rules are the CLI's: before
//!   notification or after the review-request deadline it is refused with
//!   `FAILED_PRECONDITION` naming the deadline as a Chinese date.

use std::sync::PoisonError;

use kaohe_proto::model::{
    self, BoardEntry, Grade, ListResultsRequest, ListResultsResponse, ObjectionAssembler,
    ObjectionPart, ObjectionReceipt, QuarterBoard, Rank, ResultReason, ResultStatus, Scores,
};
use kaohe_proto::pb::result_service_server::ResultService;
use kaohe_proto::{Round, pb};
use rusqlite::{Connection, OptionalExtension, params};
use tonic::{Request, Response, Status, Streaming};

use super::{Shared, field_status, store_status};
use crate::audit::Actor;
use crate::consolidate::{Assessment, GapKind};
use crate::lock;
use crate::registry::calendar_years;
use crate::registry::coverage;
use crate::registry::nodes::{self, NodeRecord};
use crate::registry::units::{self, YearRoster};
use crate::results::{self, ResultsError};
use crate::workflow::{self, Material, WorkflowError};

/// The method path a node signs (`kaohe_proto::call_auth`) to file an
/// objection; the one constant both sides share.
pub const FILE_OBJECTION_PATH: &str = kaohe_proto::call_auth::paths::FILE_OBJECTION;

fn results_status(e: ResultsError) -> Status {
    match e {
        ResultsError::NoRoster { .. }
        | ResultsError::NoPack { .. }
        | ResultsError::SeveralPacks { .. } => Status::failed_precondition(e.to_string()),
        ResultsError::Store(e) => store_status(e),
        other => {
            tracing::error!("{other}");
            Status::internal(other.to_string())
        }
    }
}

fn workflow_status(e: WorkflowError) -> Status {
    match e {
        WorkflowError::Sqlite(_) => {
            tracing::error!("{e}");
            Status::unavailable(format!("{e}；请稍后重试（retry later）"))
        }
        WorkflowError::Empty { .. }
        | WorkflowError::NoMaterial { .. }
        | WorkflowError::MaterialTooLarge { .. }
        | WorkflowError::DuplicateMaterial { .. } => Status::invalid_argument(e.to_string()),
        WorkflowError::UnknownUnit { .. } => Status::permission_denied(e.to_string()),
        _ => Status::failed_precondition(e.to_string()),
    }
}

/// The caller's scope must cover `year` and `unit` in that year's roster.
fn check_unit_scope(
    node: &NodeRecord,
    roster: &YearRoster,
    year: u16,
    unit: &str,
) -> Result<(), Status> {
    let covered = node.scope.years.contains(&i32::from(year))
        && roster.get(unit).is_some_and(|u| node.may_report(u, roster));
    if covered {
        Ok(())
    } else {
        Err(Status::permission_denied(format!(
            "单位 {unit} 的 {year} 年度考核不在节点 {}（{}）的委托范围内（unit not in the node's scope）",
            node.name, node.id
        )))
    }
}

fn grade_of(id: &str, name: &str) -> Option<Grade> {
    match (id, name) {
        ("excellent", _) | (_, "优秀") => Some(Grade::Excellent),
        ("good", _) | (_, "良好") => Some(Grade::Good),
        ("pass", _) | (_, "合格") => Some(Grade::Pass),
        ("fail", _) | (_, "不合格") => Some(Grade::Fail),
        _ => None,
    }
}

fn wire_round(r: kaohe_rulepacks::manifest::Round) -> Round {
    use kaohe_rulepacks::manifest::Round as M;
    match r {
        M::Annual => Round::Annual,
        M::Q1 => Round::Q1,
        M::Q2 => Round::Q2,
        M::Q3 => Round::Q3,
        M::Q4 => Round::Q4,
    }
}

fn proto_date(text: &str) -> Option<model::Date> {
    let d: jiff::civil::Date = text.parse().ok()?;
    model::Date::new(
        u16::try_from(d.year()).ok()?,
        u8::try_from(d.month()).ok()?,
        u8::try_from(d.day()).ok()?,
    )
}

/// Where a unit stands in the workflow, read from the workflow tables.
struct Standing {
    published: bool,
    approved: bool,
    open_objection: bool,
    /// (verification, review request), ISO dates.
    notified: Option<(String, String)>,
}

fn standing(conn: &Connection, year: i32, unit: &str) -> rusqlite::Result<Standing> {
    let approval = lock::in_force(conn, year)?;
    Ok(Standing {
        published: match &approval {
            Some(a) => lock::publication(conn, a.id)?.is_some(),
            None => false,
        },
        approved: approval.is_some(),
        open_objection: conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM objections WHERE year = ?1 AND unit_id = ?2 AND decision IS NULL)",
            params![year, unit],
            |r| r.get(0),
        )?,
        notified: conn
            .query_row(
                "SELECT verification_deadline, review_request_deadline FROM notifications WHERE year = ?1 AND unit_id = ?2",
                params![year, unit],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?,
    })
}

/// The next part of an objection stream; `None` at its end.
async fn next_part(
    inbound: &mut Streaming<pb::ObjectionPart>,
    idle: std::time::Duration,
) -> Result<Option<ObjectionPart>, Status> {
    match tokio::time::timeout(idle, inbound.message()).await {
        Ok(Ok(Some(part))) => ObjectionPart::try_from(part)
            .map(Some)
            .map_err(field_status),
        Ok(Ok(None)) => Ok(None),
        Ok(Err(status)) => Err(status),
        Err(_) => Err(Status::deadline_exceeded(format!(
            "{} 秒内没有收到异议材料，未登记（objection stream idle; nothing recorded）",
            idle.as_secs()
        ))),
    }
}

/// The node's units' results; see the module docs.
fn list(
    conn: &Connection,
    runtime: &kaohe_rulepacks::runtime::Runtime,
    node: &NodeRecord,
    req: ListResultsRequest,
) -> Result<ListResultsResponse, Status> {
    let year = i32::from(req.year);
    if !node.scope.years.contains(&year) {
        return Err(Status::permission_denied(format!(
            "{year} 年度不在节点 {}（{}）的委托范围内（year not in the node's scope）",
            node.name, node.id
        )));
    }
    let roster = units::load_roster(conn, year).map_err(store_status)?;
    let mine: Vec<String> = roster
        .iter()
        .filter(|u| node.may_report(u, &roster))
        .map(|u| u.id.clone())
        .collect();
    if mine.is_empty() {
        return Ok(ListResultsResponse::default());
    }
    let c = results::consolidate_year(conn, runtime, year)
        .map_err(results_status)?
        .consolidation;
    let registered = nodes::list_nodes(conn).map_err(store_status)?;
    let mut out = Vec::new();
    for id in &mine {
        let Some(u) = c.unit(id) else { continue };
        let st = standing(conn, year, id).map_err(|e| store_status(e.into()))?;
        let (scores, grade, rank, reasons) = match &u.assessment {
            Assessment::Assessed(s) => (
                Some(Scores {
                    applicable: s.applicable,
                    raw: s.raw,
                    converted: s.converted,
                    bonus: s.bonus,
                    penalty: s.penalty,
                    total: s.total,
                }),
                grade_of(&s.grade, &s.grade_name),
                s.rank.map(|p| Rank {
                    position: p.rank,
                    of: p.of,
                }),
                s.fired
                    .iter()
                    .filter(|f| req.round.is_none_or(|r| wire_round(f.round) == r))
                    .map(|f| ResultReason {
                        indicator_id: f.indicator_id.clone(),
                        clause_id: Some(f.clause_id.clone()),
                        amount: f.amount,
                        text: f.reason.clone(),
                    })
                    .collect(),
            ),
            _ => (None, None, None, Vec::new()),
        };
        let not_assessed_because = match &u.assessment {
            Assessment::NotAssessed { gaps } => gaps
                .iter()
                .filter(|g| match &g.what {
                    GapKind::MissingReport { round, .. }
                    | GapKind::DuplicateReport { round, .. } => {
                        req.round.is_none_or(|r| wire_round(*round) == r)
                    }
                    _ => true,
                })
                .map(|g| match (&g.what, roster.get(id)) {
                    (GapKind::MissingReport { method_id, .. }, Some(unit)) => format!(
                        "{}：{}",
                        g.message,
                        coverage::owed_by(&registered, unit, method_id, &roster)
                    ),
                    (GapKind::DuplicateReport { .. }, _) => format!(
                        "{}；县依法治县办裁定前不计入（awaiting a ruling）",
                        g.message
                    ),
                    _ => g.message.clone(),
                })
                .collect(),
            _ => Vec::new(),
        };
        let status = if scores.is_none() {
            ResultStatus::NotAssessed
        } else if st.published {
            ResultStatus::Published
        } else if st.approved {
            ResultStatus::Approved
        } else if st.open_objection {
            ResultStatus::Review
        } else if st.notified.is_some() {
            ResultStatus::Verification
        } else {
            ResultStatus::Provisional
        };
        let (verification_deadline, review_deadline) = match &st.notified {
            Some((v, r)) => (proto_date(v), proto_date(r)),
            None => (None, None),
        };
        out.push(model::UnitResult {
            unit_id: id.clone(),
            year: req.year,
            round: req.round.unwrap_or(Round::Annual),
            status,
            scores,
            grade,
            rank,
            reasons,
            verification_deadline,
            review_deadline,
            not_assessed_because,
        });
    }
    // The leaderboards of the ranked categories the caller's units are in,
    // whole: a leaderboard is shown to all who compete on it.
    let categories: std::collections::BTreeSet<&str> = mine
        .iter()
        .filter_map(|id| c.unit(id).map(|u| u.category.as_str()))
        .collect();
    let leaderboards = c
        .leaderboards
        .iter()
        .filter(|b| categories.contains(b.category.as_str()))
        .map(|b| QuarterBoard {
            round: wire_round(b.round),
            category_id: b.category.clone(),
            category_name: b.category_name.clone(),
            max_points: b.max_points,
            entries: b
                .entries
                .iter()
                .map(|e| BoardEntry {
                    rank: e.rank,
                    tied: e.tied,
                    unit_id: e.unit_id.clone(),
                    unit_name: e.name.clone(),
                    points: e.points,
                })
                .collect(),
            not_reported: b.not_reported.clone(),
            excused: b.excused.clone(),
        })
        .collect();
    Ok(ListResultsResponse {
        results: out,
        leaderboards,
    })
}

#[tonic::async_trait]
impl ResultService for Shared {
    async fn list_results(
        &self,
        request: Request<pb::ListResultsRequest>,
    ) -> Result<Response<pb::ListResultsResponse>, Status> {
        let node = self
            .caller(&request, kaohe_proto::call_auth::paths::LIST_RESULTS)
            .await?;
        let req = ListResultsRequest::try_from(request.into_inner()).map_err(field_status)?;
        let runtime = self.runtime.clone();
        let response = self
            .read(move |conn| list(conn, &runtime, &node, req))
            .await?;
        Ok(Response::new(response.into()))
    }

    async fn file_objection(
        &self,
        request: Request<Streaming<pb::ObjectionPart>>,
    ) -> Result<Response<pb::ObjectionReceipt>, Status> {
        let node = self.caller(&request, FILE_OBJECTION_PATH).await?;
        let mut inbound = request.into_inner();
        let idle = self.limits.stream_idle;
        let first = next_part(&mut inbound, idle).await?.ok_or_else(|| {
            Status::invalid_argument(
                "异议数据流为空：第一条消息须为 header（empty objection stream）",
            )
        })?;
        let mut assembler = ObjectionAssembler::start(first).map_err(field_status)?;
        while let Some(part) = next_part(&mut inbound, idle).await? {
            assembler.push(part).map_err(field_status)?;
        }
        let objection = assembler.finish().map_err(field_status)?;
        let header = objection.header;
        let now = self.clock.now();
        let runtime = self.runtime.clone();
        let writer = std::sync::Arc::clone(&self.workflow);
        let filed = tokio::task::spawn_blocking(move || -> Result<workflow::Filed, Status> {
            let mut conn = writer.lock().unwrap_or_else(PoisonError::into_inner);
            let year = i32::from(header.year);
            let roster = units::load_roster(&conn, year).map_err(store_status)?;
            check_unit_scope(&node, &roster, header.year, &header.unit_id)?;
            let cal = calendar_years::effective_calendar(&conn)
                .map_err(|e| Status::failed_precondition(e.to_string()))?;
            let data = results::load_year(&conn, &runtime, year).map_err(results_status)?;
            let materials: Vec<Material> = match header.material_name {
                Some(file_name) if header.material_size > 0 => vec![Material {
                    file_name,
                    bytes: objection.material,
                }],
                _ => Vec::new(),
            };
            let actor = Actor::new(format!("node/{}", node.id), now);
            workflow::object(
                &mut conn,
                &cal,
                data.manifest(),
                year,
                &header.unit_id,
                &header.reason,
                &materials,
                &actor,
            )
            .map_err(workflow_status)
        })
        .await
        .map_err(|_| Status::internal("登记线程异常（objection writer failed）"))??;
        Ok(Response::new(
            ObjectionReceipt {
                objection_id: filed.id.to_string(),
                received_at: now.as_second(),
                review_deadline: proto_date(&filed.decision_deadline.to_string()),
            }
            .into(),
        ))
    }
}
