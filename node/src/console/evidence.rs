//! 证据：this round's template to download (the Excel workbook or the CSV
//! `kaohe node template` writes), the filled file uploaded and imported
//! all or nothing — every problem named cell by cell as `kaohe node
//! import` names it — and the evidence history per unit (who changed what,
//! when, from which file).

use axum::Form;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kaohe_tables::sheet::{Format, Limits};
use kaohe_web::page::{self, Flash, download};
use kaohe_web::{fmt, upload};
use maud::{Markup, html};
use serde::Deserialize;

use super::{MAX_UPLOAD_BYTES, NodeConsole, PageError, User, csrf, done, pick_year, render};
use crate::import::{self, ImportError};
use crate::layout::Layout;
use crate::store::Store;
use crate::template::{self, CsvEncoding, Prefill};

#[derive(Debug, Deserialize)]
pub(super) struct Q {
    year: Option<u16>,
    #[serde(default)]
    unit: String,
}

pub(super) async fn page(
    State(c): State<NodeConsole>,
    user: User,
    Query(q): Query<Q>,
) -> Result<Response, PageError> {
    let store = c.store()?;
    let year = pick_year(&store, q.year)?;
    let body = body(&store, &user, year, &q.unit, None)?;
    Ok(render(&c, &user, "/evidence", "证据", body))
}

fn body(
    store: &Store,
    user: &User,
    year: u16,
    unit: &str,
    refused: Option<Markup>,
) -> Result<Markup, PageError> {
    let internal = |e: crate::store::StoreError| PageError::Internal(e.to_string());
    let scope = store.scope(year).map_err(internal)?;
    let unit = Some(unit.trim()).filter(|u| !u.is_empty());
    let history = store.history(year, unit).map_err(internal)?;
    let shown: Vec<_> = history.iter().rev().take(300).collect();
    let pack = store.active_pack(year).map_err(internal)?;
    let fields: Vec<&kaohe_rulepacks::manifest::Field> = pack
        .as_ref()
        .map(|p| {
            p.manifest
                .fields
                .iter()
                .filter(|f| scope.has_method(&f.method))
                .collect()
        })
        .unwrap_or_default();
    Ok(html! {
        p { (year) " 年，本节点考核 " (scope.units.len()) " 个单位。" }
        section.card {
            h3 { "下载填报模板" }
            p { a.button href=(format!("/evidence/template/xlsx?year={year}")) { "Excel 模板（.xlsx）" } " "
                a.button.secondary href=(format!("/evidence/template/csv?year={year}")) { "CSV 模板" } " "
                a.button.secondary href=(format!("/evidence/template/xlsx?year={year}&with_values=1")) { "含已保存数值的 Excel（便于更正）" } }
        }
        @if let Some(r) = refused { (r) }
        form.card method="post" action="/evidence" enctype="multipart/form-data" {
            h3 { "上传填好的模板" }
            p.muted { "全部检查通过才保存；有问题则逐个单元格列出，不保存任何数据。" }
            (csrf(user))
            input type="hidden" name="year" value=(year);
            label { "文件（.xlsx 或 .csv）" input type="file" name="file" accept=".xlsx,.xlsm,.csv,.txt" required; }
            button type="submit" { "上传并导入" }
        }
        @if !fields.is_empty() {
            form.card method="post" action="/evidence/set" {
                h3 { "单项更正" }
                p.muted { "更正一个单位一项证据的数值，按导入时的同样规则检查（同 kaohe node set）；有问题则不保存。按季度填报的项须选季度。" }
                (csrf(user))
                input type="hidden" name="year" value=(year);
                label { "单位 "
                    select name="unit" { @for u in &scope.units { option value=(u.unit_id) selected[unit == Some(u.unit_id.as_str())] { (u.name) "（" (u.unit_id) "）" } } }
                }
                label { "证据项 "
                    select name="field" { @for f in &fields { option value=(f.id) { (f.id) " " (f.label) @if !f.unit.is_empty() { "（" (f.unit) "）" } } } }
                }
                label { "轮次 "
                    select name="round" {
                        option value="" { "年度（按年度填报的项）" }
                        @for q in ["Q1", "Q2", "Q3", "Q4"] { option value=(q) { (q) } }
                    }
                }
                label { "数值（数字、是/否 或选项文字）" input type="text" name="value" required; }
                button type="submit" { "保存更正" }
            }
        }
        h2 { "证据修改记录" }
        form.no-print method="get" action="/evidence" {
            input type="hidden" name="year" value=(year);
            label.inline { "单位 "
                select name="unit" onchange="this.form.submit()" {
                    option value="" { "全部单位" }
                    @for u in &scope.units { option value=(u.unit_id) selected[unit == Some(u.unit_id.as_str())] { (u.name) "（" (u.unit_id) "）" } }
                }
            }
            noscript { button type="submit" { "查看" } }
        }
        p.muted { "共 " (history.len()) " 条" @if history.len() > shown.len() { "，显示最近 " (shown.len()) " 条" } "。" }
        table {
            thead { tr { th { "时间" } th { "操作人" } th { "单位" } th { "轮次" } th { "证据项" } th { "原值" } th { "新值" } th { "来源" } } }
            tbody { @for h in shown {
                tr {
                    td { (fmt::stored(&h.at)) }
                    td { (h.operator) }
                    td { (h.unit_id) }
                    td { (h.round.name_zh()) }
                    td { (h.field_id) }
                    td.num { (h.old_value.map(fmt::score).unwrap_or_else(|| "—".into())) }
                    td.num { (h.new_value.map(fmt::score).unwrap_or_else(|| "—".into())) }
                    td { @if h.kind == "import" { "导入 " (h.file_name.clone().unwrap_or_default()) } @else { "逐项录入" } }
                }
            } }
        }
    })
}

#[derive(Debug, Deserialize)]
pub(super) struct TemplateQ {
    year: u16,
    #[serde(default)]
    with_values: Option<String>,
}

/// The year's template, as `kaohe node template` writes it.
pub(super) async fn template(
    State(c): State<NodeConsole>,
    _user: User,
    Path(file): Path<String>,
    Query(q): Query<TemplateQ>,
) -> Result<Response, PageError> {
    let store = c.store()?;
    let internal = |e: crate::store::StoreError| PageError::Internal(e.to_string());
    let pack = store
        .active_pack(q.year)
        .map_err(internal)?
        .ok_or_else(|| {
            PageError::Unavailable(format!("{} 年还没有启用的规则包，请先同步", q.year))
        })?;
    let scope = store.scope(q.year).map_err(internal)?;
    let layout = Layout::new(&pack.manifest, &scope).map_err(PageError::invalid)?;
    let prefill: Prefill = if q.with_values.is_some() {
        Prefill::stored(&store, q.year).map_err(internal)?
    } else {
        Prefill::new()
    };
    let year = q.year;
    match file.as_str() {
        "xlsx" => Ok(download(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            &format!("{year}-证据模板.xlsx"),
            template::xlsx(&layout, &prefill).map_err(PageError::invalid)?,
        )),
        "csv" => Ok(download(
            "text/csv; charset=utf-8",
            &format!("{year}-证据模板.csv"),
            template::csv(&layout, &prefill, CsvEncoding::Utf8Bom).map_err(PageError::invalid)?,
        )),
        other => Err(PageError::NotFound(format!("没有模板格式 {other}"))),
    }
}

pub(super) async fn upload(
    State(c): State<NodeConsole>,
    user: User,
    mp: Multipart,
) -> Result<Response, PageError> {
    let mut form = upload::read(mp, MAX_UPLOAD_BYTES)
        .await
        .map_err(PageError::invalid)?;
    user.check_csrf(form.text("csrf"))?;
    let year: u16 = form.year("year").map_err(PageError::Invalid)?;
    let file = form
        .take_file("file", "证据文件")
        .map_err(PageError::Invalid)?;
    let mut store = c.store()?;
    let actor = c.actor();
    let result = Format::from_path(std::path::Path::new(&file.file_name))
        .map_err(|source| ImportError::Read {
            file: file.file_name.clone(),
            source,
        })
        .and_then(|format| {
            import::import_bytes(
                &mut store,
                &file.file_name,
                &file.bytes,
                format,
                year,
                &actor,
                &Limits::default(),
                &mut |_| {},
            )
        });
    match result {
        Ok(report) => {
            let s = report.summary;
            let mut text = format!(
                "已导入 {}：{} 行、{} 组；新增 {}、修改 {}、清除 {}、未变 {}",
                file.file_name,
                report.rows,
                report.blocks,
                s.added,
                s.changed,
                s.removed,
                s.unchanged
            );
            if !report.hidden_sheets.is_empty() {
                text.push_str(&format!(
                    "；隐藏的工作表未读取：{}",
                    report.hidden_sheets.join("、")
                ));
            }
            if report.normalised > 0 {
                text.push_str(&format!(
                    "；{} 个单元格含全角数字或符号，已按半角读取",
                    report.normalised
                ));
            }
            Ok(done(
                &c,
                &user,
                &format!("/evidence?year={year}"),
                Flash::Ok,
                text,
            ))
        }
        Err(e) => {
            let (title, lines) = match &e {
                ImportError::Invalid { file, problems } => (
                    format!(
                        "{file} 有 {} 处问题，未导入任何数据：改正后重新上传（nothing was imported）",
                        problems.len()
                    ),
                    problems.iter().map(ToString::to_string).collect(),
                ),
                other => (
                    format!("{} 未导入（nothing was imported）", file.file_name),
                    vec![other.to_string()],
                ),
            };
            let refused = page::problems(&title, &lines);
            let body = body(&store, &user, year, "", Some(refused))?;
            let mut r = render(&c, &user, "/evidence", "证据", body);
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r.into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct SetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    year: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    field: String,
    #[serde(default)]
    round: String,
    #[serde(default)]
    value: String,
}

/// One value corrected, as `kaohe node set` does: checked as an imported
/// cell is ([`import::set_value`]); refused with the command's reason,
/// nothing written.
pub(super) async fn set(
    State(c): State<NodeConsole>,
    user: User,
    Form(f): Form<SetForm>,
) -> Result<Response, PageError> {
    user.check_csrf(&f.csrf)?;
    let year: u16 = upload::year(&f.year).map_err(PageError::Invalid)?;
    let round = match f.round.trim() {
        "" => None,
        r => Some(Layout::round_of_sheet(r).ok_or_else(|| {
            PageError::Invalid(format!("轮次须为 annual 或 Q1–Q4（unknown round {r:?}）"))
        })?),
    };
    let (unit, field) = (f.unit.trim(), f.field.trim());
    let mut store = c.store()?;
    let actor = c.actor();
    match import::set_value(&mut store, year, unit, field, &f.value, round, &actor) {
        Ok(s) => {
            let text = if s.written() == 0 {
                format!("数值未变（unchanged）：{unit} {field}")
            } else {
                format!("已保存（saved）：{unit} {field} = {}", f.value)
            };
            Ok(done(
                &c,
                &user,
                &format!("/evidence?year={year}&unit={unit}"),
                Flash::Ok,
                text,
            ))
        }
        Err(e) => {
            let refused = page::problems(
                &format!("设置 {unit} 的 {field}（set the value）未保存："),
                &[e.to_string()],
            );
            let body = body(&store, &user, year, unit, Some(refused))?;
            let mut r = render(&c, &user, "/evidence", "证据", body);
            *r.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(r.into_response())
        }
    }
}
