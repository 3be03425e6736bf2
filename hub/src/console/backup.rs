//! 备份：for administrators — an online backup of `hub.db` made now
//! ([`crate::backup::backup`], as `kaohe hub backup`: one consistent
//! snapshot while the hub serves, integrity-checked, never overwriting,
//! audited with the account) into the data directory's `backups` folder,
//! the backups there listed with size and time and downloadable (streamed,
//! not read into memory). Restoring stays a terminal step — the hub must be
//! stopped and the backup installed into an empty data directory — and the
//! page says so with the exact command.

use std::path::{Path, PathBuf};

use axum::Form;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::response::Response;
use kaohe_web::{fmt, page};
use maud::html;
use serde::Deserialize;
use tokio::io::AsyncReadExt as _;

use super::{Console, PageError, User, csrf, done, render};
use crate::accounts::Permission;
use crate::config;

/// The folder of the data directory the console writes backups into.
pub const BACKUP_DIR: &str = "backups";

fn backup_dir(data_dir: &Path) -> PathBuf {
    data_dir.join(BACKUP_DIR)
}

/// One backup file in the folder.
struct Listed {
    name: String,
    bytes: u64,
    modified: Option<jiff::Timestamp>,
}

fn list(dir: &Path) -> Vec<Listed> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<Listed> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let meta = e.metadata().ok().filter(std::fs::Metadata::is_file)?;
            let name = e.file_name().into_string().ok()?;
            // The backup's own temporary files are not backups.
            if !name.ends_with(".db") {
                return None;
            }
            Some(Listed {
                name,
                bytes: meta.len(),
                modified: meta
                    .modified()
                    .ok()
                    .and_then(|t| jiff::Timestamp::try_from(t).ok()),
            })
        })
        .collect();
    out.sort_by(|a, b| b.modified.cmp(&a.modified).then(b.name.cmp(&a.name)));
    out
}

pub(super) async fn page(State(c): State<Console>, user: User) -> Result<Response, PageError> {
    user.require(Permission::Administer)?;
    let data_dir = c.0.data_dir.clone();
    let dir = backup_dir(&data_dir);
    let files = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || list(&dir)
    })
    .await
    .map_err(|e| PageError::Internal(format!("后台任务失败（task failed）：{e}")))?;
    let shown_dir = std::path::absolute(&dir).unwrap_or(dir);
    let shown_data = std::path::absolute(&data_dir).unwrap_or(data_dir);
    let body = html! {
        form.card method="post" action="/backup" data-confirm="现在备份汇总中心数据库？服务不必停止。" {
            h3 { "立即备份" }
            p.muted { "SQLite 在线备份：服务运行中即可进行，得到一致的快照；先写临时文件，完整性检查通过后才放到目标名，不覆盖已有文件；备份记入审计日志。备份保存在 " code { (shown_dir.display()) } "，也可在下方下载另存。" }
            (csrf(&user))
            button type="submit" { "立即备份" }
        }
        div.flash.warn {
            "备份只含数据库 hub.db：" code { "hub.toml" } " 和回执签名密钥 " code { (config::RECEIPT_KEY_FILE) } " 不在备份中，请另行妥善保存（密钥加密离线保存）。"
        }
        h2 { "已有备份（" (files.len()) " 份）" }
        @if files.is_empty() {
            p { "尚无备份。" }
        } @else {
            table {
                thead { tr { th { "文件" } th.num { "大小（字节）" } th { "时间" } th { "" } } }
                tbody { @for f in &files {
                    tr {
                        td { code { (f.name) } }
                        td.num { (f.bytes) }
                        td { (f.modified.map(fmt::datetime).unwrap_or_default()) }
                        td { a href=(format!("/backup/file/{}", f.name)) { "下载" } }
                    }
                } }
            }
        }
        h2 { "恢复（须在终端进行）" }
        p { "恢复不能在控制台中进行：须先停止汇总中心（" code { "systemctl stop kaohe-hub" } " 或结束 " code { "kaohe hub serve" } "），把备份装入一个"
            b { "没有 hub.db 的空数据目录" } "（不会覆盖在用的数据库），放回 hub.toml 与回执密钥（不要运行 init 生成新密钥），再以该目录启动汇总中心：" }
        pre { code {
            "kaohe hub --data-dir <空的数据目录> --operator <操作人> restore --from " (shown_dir.display()) "/<备份文件>\n"
            "cp " (shown_data.display()) "/hub.toml " (shown_data.display()) "/" (config::RECEIPT_KEY_FILE) " <空的数据目录>/\n"
            "kaohe hub --data-dir <空的数据目录> units list --year <年度>"
        } }
        p.muted { "恢复前检查完整性和结构版本：损坏的、比本程序新的备份一律拒绝；恢复记入恢复后数据库的审计日志。恢复后的透明日志比各节点已见证的短，节点下次同步时会停止送达，经核实后由节点经办人在节点控制台「状态」页（或 kaohe node witness --resolve）处理。" }
    };
    Ok(render(&c, &user, "/backup", "备份", body))
}

#[derive(Debug, Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub(super) async fn make(
    State(c): State<Console>,
    user: User,
    Form(f): Form<CsrfForm>,
) -> Result<Response, PageError> {
    user.may_change(Permission::Administer, &f.csrf)?;
    let u = user.clone();
    let report = c
        .db(move |_conn, inner| {
            let actor = inner.actor(&u);
            let dir = backup_dir(&inner.data_dir);
            std::fs::create_dir_all(&dir).map_err(|e| {
                PageError::Internal(format!(
                    "不能建立备份目录 {}（cannot create the backup folder）：{e}",
                    dir.display()
                ))
            })?;
            // hub-20240108-100000.db at the hub's clock (Beijing); a
            // second backup within the same second gets a number.
            let stamp = actor
                .at
                .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
                .strftime("%Y%m%d-%H%M%S")
                .to_string();
            let mut out = dir.join(format!("hub-{stamp}.db"));
            let mut n = 1;
            while std::fs::symlink_metadata(&out).is_ok() {
                n += 1;
                out = dir.join(format!("hub-{stamp}-{n}.db"));
            }
            crate::backup::backup(&inner.data_dir, &out, &actor)
                .map_err(|e| PageError::Internal(format!("备份失败（backup failed）：{e}")))
        })
        .await?;
    let name = report
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(done(
        &c,
        &user,
        "/backup",
        format!(
            "已备份到 {name}：{} 字节，结构版本 {}，SHA-256 {}，完整性检查通过（backup written, integrity ok）。注意：hub.toml 与回执签名密钥 {} 不在备份中，请另行妥善保存",
            report.bytes,
            report.schema_version,
            report.sha256,
            config::RECEIPT_KEY_FILE
        ),
    ))
}

/// A backup file of the folder, streamed as a download.
pub(super) async fn file(
    State(c): State<Console>,
    user: User,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, PageError> {
    user.require(Permission::Administer)?;
    // Only a plain name of the folder: no separators, no `..`.
    let plain = !name.is_empty()
        && name.ends_with(".db")
        && !name.contains(['/', '\\'])
        && !name.starts_with('.');
    let path = backup_dir(&c.0.data_dir).join(&name);
    let not_found = || PageError::NotFound(format!("没有备份文件 {name}"));
    if !plain {
        return Err(not_found());
    }
    let mut f = tokio::fs::File::open(&path)
        .await
        .map_err(|_| not_found())?;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    tokio::spawn(async move {
        loop {
            let mut chunk = vec![0u8; 256 * 1024];
            match f.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) => {
                    chunk.truncate(n);
                    if tx.send(Ok(chunk)).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    break;
                }
            }
        }
    });
    let body = Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx));
    Ok(page::download_body("application/vnd.sqlite3", &name, body))
}
