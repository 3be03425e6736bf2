//! 结果：the hub's results and notices for this node's units (scores,
//! grades, ranks, every reason, the verification and review deadlines),
//! and an objection filed with the hub with its material files — one file
//! sent as it is, several bundled, as `kaohe node object` sends them.

use axum::extract::{Multipart, Query, State};
use axum::response::Response;
use kaohe_web::page::Flash;
use kaohe_web::{fmt, upload};
use maud::html;
use serde::Deserialize;

use super::{MAX_UPLOAD_BYTES, NodeConsole, PageError, User, csrf, done, pick_year, render};
use crate::config::Timeouts;
use crate::{client, review};

#[derive(Debug, Deserialize)]
pub(super) struct Q {
    year: Option<u16>,
}

pub(super) async fn page(
    State(c): State<NodeConsole>,
    user: User,
    Query(q): Query<Q>,
) -> Result<Response, PageError> {
    let (year, units) = {
        let store = c.store()?;
        let year = pick_year(&store, q.year)?;
        let scope = store
            .scope(year)
            .map_err(|e| PageError::Internal(e.to_string()))?;
        (year, scope.units)
    };
    let answer = c
        .with_hub(move |c| async move {
            let config = &c.0.config;
            let key = c.key()?;
            let answer = async {
                let hub = client::connect(&config.hub, &config.hub.timeouts)
                    .await
                    .map_err(|e| format!("连接汇总中心失败（connect to the hub）：{e}"))?;
                let now = || jiff::Timestamp::now().as_second();
                hub.list_results(
                    &key,
                    kaohe_proto::model::ListResultsRequest { year, round: None },
                    &now,
                )
                .await
                .map_err(|e| format!("查询考核结果失败（ListResults）：{e}"))
            }
            .await;
            Ok(answer)
        })
        .await?;
    let date = |d: Option<kaohe_proto::model::Date>| {
        d.and_then(|d| jiff::civil::Date::new(d.year() as i16, d.month() as i8, d.day() as i8).ok())
            .map(fmt::date)
            .unwrap_or_else(|| "—".into())
    };
    let body = html! {
        p { (year) " 年度，汇总中心对本节点所评单位的考核结果。" }
        @match &answer {
            Err(e) => { div.flash.error { (e) } },
            Ok(r) if r.results.is_empty() => { p { "汇总中心尚无本节点所评单位的结果。" } },
            Ok(r) => {
                table {
                    thead { tr { th { "单位" } th { "轮次" } th { "状态" } th.num { "总分" } th { "等次" } th { "排名" } th { "核实截止" } th { "复核申请截止" } } }
                    tbody { @for u in &r.results {
                        tr {
                            td { (units.iter().find(|x| x.unit_id == u.unit_id).map(|x| x.name.as_str()).unwrap_or("")) " " span.muted { (u.unit_id) } }
                            td { (u.round.name_zh()) }
                            td { (u.status.name_zh()) }
                            td.num { (u.scores.map(|s| fmt::score(s.total)).unwrap_or_else(|| "未考核".into())) }
                            td { (u.grade.map(|g| g.name_zh()).unwrap_or("—")) }
                            td { (u.rank.map(|k| format!("{}/{}", k.position, k.of)).unwrap_or_else(|| "—".into())) }
                            td { (date(u.verification_deadline)) }
                            td { (date(u.review_deadline)) }
                        }
                    } }
                }
                h2 { "得分变动原因" }
                table {
                    thead { tr { th { "单位" } th { "指标" } th.num { "分值" } th { "原因" } } }
                    tbody { @for u in &r.results { @for why in &u.reasons {
                        tr { td { (u.unit_id) } td { (why.indicator_id) } td.num { (fmt::score(why.amount)) } td { (why.text) } }
                    } } }
                }
            }
        }
        form.card method="post" action="/results/object" enctype="multipart/form-data" data-confirm="确定向汇总中心提出异议（申请复核）？" {
            h3 { "提出异议（申请复核）" }
            (csrf(&user))
            input type="hidden" name="year" value=(year);
            label { "单位 "
                select name="unit" required { @for u in &units { option value=(u.unit_id) { (u.name) "（" (u.unit_id) "）" } } }
            }
            label { "异议理由" textarea name="reason" required {} }
            label { "证明材料（必须，可多选；多个文件打包为一个 zip，合计不超过 20 MiB）" input type="file" name="material" multiple required; }
            button type="submit" { "提交异议" }
        }
    };
    Ok(render(&c, &user, "/results", "结果", body))
}

pub(super) async fn object(
    State(c): State<NodeConsole>,
    user: User,
    mp: Multipart,
) -> Result<Response, PageError> {
    let form = upload::read(mp, MAX_UPLOAD_BYTES)
        .await
        .map_err(PageError::invalid)?;
    user.check_csrf(form.text("csrf"))?;
    let year: u16 = form.year("year").map_err(PageError::Invalid)?;
    let (unit, reason) = (form.text("unit").to_owned(), form.text("reason").to_owned());
    if reason.is_empty() {
        return Err(PageError::Invalid(
            "请写明异议理由（give the reason）".into(),
        ));
    }
    let files: Vec<(String, Vec<u8>)> = form
        .files
        .into_iter()
        .filter(|f| f.field == "material")
        .map(|f| (f.file_name, f.bytes))
        .collect();
    if files.is_empty() {
        return Err(PageError::Invalid(
            "请附上证明材料（material required）".into(),
        ));
    }
    let material = review::material_from(files).map_err(PageError::invalid)?;
    let objection = review::objection(&unit, year, &reason, material);
    let u = unit.clone();
    let receipt = c
        .with_hub(move |c| async move {
            let config = &c.0.config;
            let key = c.key()?;
            // One call: the stream's deadline bounds the whole upload.
            let timeouts = Timeouts {
                call: config.hub.timeouts.stream,
                ..config.hub.timeouts.clone()
            };
            let hub = client::connect(&config.hub, &timeouts).await.map_err(|e| {
                PageError::Unavailable(format!("连接汇总中心失败（connect to the hub）：{e}"))
            })?;
            let now = || jiff::Timestamp::now().as_second();
            hub.file_objection(&key, objection, &now)
                .await
                .map_err(|e| {
                    PageError::Invalid(format!(
                        "汇总中心未受理单位 {u} 的复核申请（objection not filed）：{e}"
                    ))
                })
        })
        .await?;
    Ok(done(
        &c,
        &user,
        &format!("/results?year={year}"),
        Flash::Ok,
        review::render_receipt(&unit, year, &receipt),
    ))
}
