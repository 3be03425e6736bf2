//! `kaohe node deliver`: send the outbox, record each receipt, and with
//! `--follow` retry at the stored times until everything is delivered.

use std::path::Path;

use anyhow::{Context as _, anyhow, bail};

use super::{beijing, open, tokio_runtime};
use crate::deliver::{self, ChunkReport, DeliverOptions, PassReport};
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub(super) struct DeliverArgs {
    /// 持续送达：按保存的重试时间自动重试，直到全部送达（keep retrying with backoff until everything is delivered）
    #[arg(long)]
    follow: bool,
    /// 与 --follow 同用：最多等待这么久，如 2h 或 30m（with --follow: give up after this long）
    #[arg(long, value_name = "时长", requires = "follow")]
    max_wait: Option<jiff::SignedDuration>,
}

pub(super) fn run(dir: &Path, a: DeliverArgs) -> anyhow::Result<()> {
    let (config, mut store) = open(dir)?;
    let hub_key = deliver::receipt_key(&config)?;
    let lock = deliver::DeliveryLock::acquire(&config.store_file).context("送达（deliver）")?;
    let rt = tokio_runtime()?;
    let started = std::time::Instant::now();
    let max_wait = match a.max_wait {
        Some(d) => Some(
            std::time::Duration::try_from(d)
                .map_err(|_| anyhow!("--max-wait 须为正的时长（must be positive）"))?,
        ),
        None => None,
    };
    let options = DeliverOptions {
        respect_retry_time: a.follow,
        ..DeliverOptions::default()
    };
    loop {
        let report = rt.block_on(deliver::deliver_pass(
            &lock,
            &mut store,
            &config,
            &hub_key,
            &options,
            &jiff::Timestamp::now,
            &mut print_chunk,
        ))?;
        print_pass(&store, &report)?;
        if let Some(f) = &report.call_error
            && !f.transient
        {
            bail!(
                "送达失败，需要人工处理（delivery needs attention）：{}",
                f.message
            );
        }
        let pending = store.outbox_counts()?.pending();
        if pending == 0 {
            return Ok(());
        }
        if !a.follow {
            fail_if_undelivered(&store, &report)?;
            // More than one stream's worth: go on while every entry sent
            // got its answer.
            if report.sent == 0 {
                return Ok(());
            }
            continue;
        }
        // Follow: more to send right away, or wait for the earliest
        // stored retry time (bounded).
        if report.sent > 0 && report.call_error.is_none() && report.failed.is_empty() {
            continue;
        }
        let now = jiff::Timestamp::now().as_second();
        let wait = store
            .next_retry_at()?
            .map_or(1, |t| t.saturating_sub(now))
            .clamp(1, crate::outbox::RETRY_MAX_SECONDS);
        let wait = std::time::Duration::from_secs(wait.unsigned_abs());
        if let Some(max) = max_wait
            && started.elapsed() + wait > max
        {
            bail!(
                "已等待 {:?}，仍有 {pending} 份提交未送达（gave up waiting; entries stay pending）",
                started.elapsed()
            );
        }
        println!(
            "{} 秒后重试（retrying in {} s）……",
            wait.as_secs(),
            wait.as_secs()
        );
        std::thread::sleep(wait);
    }
}

/// The exit of a delivery pass that is not retried by this command: an
/// error when the hub needs a person, or when entries it tried to send
/// stay undelivered (they are kept in the outbox and retried later), so
/// that `deliver` and `submit` exit non-zero alike.
pub(super) fn fail_if_undelivered(store: &Store, r: &PassReport) -> anyhow::Result<()> {
    if let Some(f) = &r.call_error
        && !f.transient
    {
        bail!(
            "送达失败，需要人工处理（delivery needs attention）：{}",
            f.message
        );
    }
    let pending = store.outbox_counts()?.pending();
    if pending > 0 && (r.call_error.is_some() || !r.failed.is_empty()) {
        bail!(
            "{pending} 份提交未能送达，已保存待重发；稍后运行 kaohe node deliver（{pending} entries not delivered; kept for retry）"
        );
    }
    Ok(())
}

pub(super) fn print_chunk(c: &ChunkReport) {
    println!(
        "第 {} 批回执（chunk {}）：接收 {}，拒绝 {}{}",
        c.chunk,
        c.chunk,
        c.accepted.len(),
        c.rejected.len(),
        if c.bad_receipts.is_empty() {
            String::new()
        } else {
            format!("，回执核验失败 {}", c.bad_receipts.len())
        }
    );
}

pub(super) fn print_pass(store: &Store, r: &PassReport) -> anyhow::Result<()> {
    if r.recovered > 0 {
        println!(
            "上次送达中断，{} 份提交重新发送（{} interrupted entries sent again）",
            r.recovered, r.recovered
        );
    }
    for (seq, why) in &r.superseded {
        println!("已作废，不发送（superseded）：序号 {seq}：{why}");
    }
    if r.sent == 0 && r.rejected.is_empty() {
        println!("没有需要送达的提交（nothing to deliver）");
    } else {
        println!(
            "已送达 {} 份（accepted with a verified receipt）；被拒绝 {} 份；待重发 {} 份",
            r.accepted.len(),
            r.rejected.len(),
            r.failed.len()
        );
    }
    for (seq, why) in &r.rejected {
        let unit = store
            .outbox_entry(*seq)?
            .map(|e| format!("{} {} {}", e.unit_id, e.year, e.round.name_zh()))
            .unwrap_or_default();
        println!("  被拒绝（rejected）序号 {seq}　{unit}：{why}");
    }
    if let Some(f) = &r.call_error {
        println!("{}", f.message);
    }
    let counts = store.outbox_counts()?;
    if counts.pending() > 0 {
        let next = store
            .next_retry_at()?
            .map(|t| format!("，下次自动重试约在 {}（北京时间）", beijing(t)))
            .unwrap_or_default();
        println!(
            "发件箱仍有 {} 份待送达{next}；运行 `kaohe node deliver` 立即重试，或 `kaohe node deliver --follow` 自动重试直到送达（pending entries are kept and retried）",
            counts.pending()
        );
    }
    Ok(())
}
