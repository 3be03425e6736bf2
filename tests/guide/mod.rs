//! `deploy/README.md` run as written: the county's guide is a tested
//! procedure (issue #14).
//!
//! Every ```` ```sh ```` block of the guide is taken from the Markdown
//! itself, in order, and run in one `bash -euo pipefail` with `kaohe` on
//! `PATH` being this build's binary, `KAOHE_ROOT` (the guide's one path
//! variable) a temporary directory and the hub on `localhost` at a free
//! port. A block the guide marks `<!-- guide-test: skip REASON -->` (root,
//! systemd) is left out; the guide follows each with the rehearsal block
//! that does the same without them, which runs here. The run must reach an
//! approved, exported 2023 result in which every unit of the sample roster
//! is graded. The systemd units the guide installs are checked with
//! `systemd-analyze verify` where that command exists.
//!
//! Layout: [`blocks`] parses the guide; [`the_guide_reaches_a_graded_exported_result`]
//! runs it; [`systemd_units_verify`] checks the units.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::demo::export;
use crate::{path_str as s, repo};

/// The marker a block meant for a person only carries on the line before it.
const SKIP: &str = "<!-- guide-test: skip";
/// A whole run of the guide is a few dozen commands; far more means a hang.
const RUN_LIMIT: Duration = Duration::from_secs(900);

/// One ```` ```sh ```` block of the guide.
#[derive(Debug, PartialEq)]
struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    text: String,
    /// Why the test leaves it out, when the guide says so.
    skip: Option<String>,
}

/// Every `sh` block of `markdown` in order, with the skip reason written on
/// the last non-blank line before its fence. Other fenced blocks (TOML,
/// plain examples) are passed over whole.
fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = markdown.lines().enumerate();
    let mut before: Option<&str> = None;
    while let Some((i, line)) = lines.next() {
        let fence = line.trim_start();
        if let Some(info) = fence.strip_prefix("```") {
            let mut text = String::new();
            for (_, l) in lines.by_ref() {
                if l.trim_start().starts_with("```") {
                    break;
                }
                text.push_str(l);
                text.push('\n');
            }
            if info.trim() == "sh" {
                let skip = before
                    .and_then(|b| b.trim().strip_prefix(SKIP))
                    .map(|r| r.trim().trim_end_matches("-->").trim().to_owned());
                out.push(Block {
                    line: i + 1,
                    text,
                    skip,
                });
            }
            before = None;
        } else if !line.trim().is_empty() {
            before = Some(line);
        }
    }
    out
}

#[test]
fn blocks_are_read_in_order_with_their_skip_reasons() {
    let md = "# 标题\n\n<!-- guide-test: skip 要 root -->\n```sh\nuseradd kaohe\n```\n\n\
              说明\n\n```sh\necho 1\necho 2\n```\n\n```toml\nyear = 2027\n```\n\
              <!-- guide-test: skip 不是紧挨着的 -->\n\n正文\n```sh\necho 3\n```\n";
    assert_eq!(
        blocks(md),
        [
            Block {
                line: 4,
                text: "useradd kaohe\n".into(),
                skip: Some("要 root".into()),
            },
            Block {
                line: 10,
                text: "echo 1\necho 2\n".into(),
                skip: None,
            },
            Block {
                line: 21,
                text: "echo 3\n".into(),
                skip: None,
            },
        ]
    );
}

/// The guide as one script: each block it runs preceded by a line saying
/// where it comes from, so a failure's output names the block.
fn script(guide: &[Block]) -> String {
    let mut script = String::new();
    for b in guide {
        match &b.skip {
            Some(reason) => {
                script.push_str(&format!("# deploy/README.md:{} 跳过：{reason}\n", b.line));
            }
            None => {
                script.push_str(&format!(
                    "echo '>>> deploy/README.md:{}'\n{}\n",
                    b.line, b.text
                ));
            }
        }
    }
    script
}

/// Stops the guide's background hub (its pid is in `serve.pid`) if the run
/// ends before the guide's own last block does.
struct HubPid(PathBuf);

impl Drop for HubPid {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(&self.0) {
            let _ = Command::new("kill")
                .arg(pid.trim())
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

#[test]
fn the_guide_reaches_a_graded_exported_result() {
    let markdown = std::fs::read_to_string(repo("deploy/README.md")).expect("deploy/README.md");
    let guide = blocks(&markdown);
    let run = guide.iter().filter(|b| b.skip.is_none()).count();
    let skipped: Vec<&Block> = guide.iter().filter(|b| b.skip.is_some()).collect();
    assert!(run >= 20, "the guide has only {run} runnable blocks");
    // Substitutions stay few and each says why.
    assert!(skipped.len() <= 4, "{skipped:#?}");
    assert!(
        skipped
            .iter()
            .all(|b| b.skip.as_deref().is_some_and(|r| !r.is_empty())),
        "{skipped:#?}"
    );

    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("kaohe-演练");
    std::fs::create_dir(&root).unwrap();
    let script_file = tmp.path().join("guide.sh");
    std::fs::write(&script_file, script(&guide)).unwrap();
    let hub = root.join("var/lib/kaohe/hub");
    let _hub_pid = HubPid(hub.join("serve.pid"));

    let exe = Path::new(env!("CARGO_BIN_EXE_kaohe"));
    let path = std::env::join_paths(std::iter::once(exe.parent().unwrap().to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let log = tmp.path().join("guide.log");
    let started = Instant::now();
    let mut child = Command::new("bash")
        .args(["-euo", "pipefail", s(&script_file)])
        .current_dir(repo(""))
        .env("PATH", path)
        .env("KAOHE_ROOT", &root)
        .env("HUB_HOST", "localhost")
        .env("HUB_PORT", free_port().to_string())
        .env_remove("KAOHE_LOG")
        .env_remove("HUB_OPERATOR")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(tmp.path().join("guide.err")).unwrap())
        .spawn()
        .expect("run bash");
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > RUN_LIMIT {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let took = started.elapsed();
    let read = |p: PathBuf| {
        let mut t = String::new();
        std::fs::File::open(p)
            .and_then(|mut f| f.read_to_string(&mut t))
            .map(|_| t)
            .unwrap_or_default()
    };
    let out = read(log);
    let err = read(tmp.path().join("guide.err"));
    let serve_log = read(hub.join("serve.log"));
    assert!(
        status.success(),
        "the guide failed ({status}) after {took:?}; the last block run is the last >>> line:\n\
         --- stdout (tail) ---\n{}\n--- stderr (tail) ---\n{}\n--- hub serve.log (tail) ---\n{}",
        tail(&out, 60),
        tail(&err, 40),
        tail(&serve_log, 20)
    );
    println!(
        "deploy/README.md：{run} 段命令在 {:.1} 秒内执行完毕",
        took.as_secs_f64()
    );
    assert_eq!(
        out.matches(">>> deploy/README.md:").count(),
        run,
        "every runnable block ran"
    );

    // Exported: the workbook, the PDF notice and the letters.
    let exports = hub.join("导出-2023");
    let xlsx = exports.join("2023年度考核结果.xlsx");
    assert!(exports.join("2023年度考核结果通报.pdf").is_file());
    let letters = std::fs::read_dir(exports.join("letters"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert!(letters > 0, "no letters exported");

    // Graded: every unit of the sample roster, nothing unassessed; the
    // township ranked in its category.
    let book = export::read(&xlsx);
    let roster = read(repo("deploy/sample/名册（示例数据）.csv"));
    let ids: Vec<&str> = roster
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .collect();
    assert_eq!(ids.len(), 5, "{roster}");
    for id in &ids {
        let row = book
            .rows
            .get(*id)
            .unwrap_or_else(|| panic!("{id} is not graded in the export: {:?}", book.rows.keys()));
        assert!(
            ["优秀", "良好", "合格", "不合格"].contains(&row.grade.as_str()),
            "{id}: {}",
            row.grade
        );
    }
    assert_eq!(book.rows.len(), ids.len());
    assert!(book.unassessed.is_empty(), "{:?}", book.unassessed);
    assert_eq!(book.ranking["xiaoqi"].rank, Some(1));

    // Approved under the guide's 文号, backed up, restored.
    let db = rusqlite::Connection::open_with_flags(
        hub.join("hub.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let approved: String = db
        .query_row(
            "SELECT doc_number FROM approvals WHERE year = 2023 AND reopened_at IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(approved, "宝法治办〔2024〕1号");
    assert!(root.join("var/backups/kaohe/hub-2023-审定后.db").is_file());
    assert!(root.join("var/lib/kaohe/hub-恢复/hub.db").is_file());
    // The maintenance sections ran: the old node certificate is on the
    // county CA's list, the hub stopped at the end.
    assert!(out.contains("Serial Number"), "{}", tail(&out, 40));
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The units the guide installs, checked by systemd itself. The binary path
/// is pointed at this build's `kaohe` (systemd refuses a missing
/// executable); the node units are checked as the guide enables them, as
/// instance `xiaoqi` of the template.
#[test]
fn systemd_units_verify() {
    let have = Command::new("systemd-analyze")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !have {
        println!("跳过：本机没有 systemd-analyze（skipped: systemd-analyze not installed）");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let exe = env!("CARGO_BIN_EXE_kaohe");
    let units = [
        ("kaohe-hub.service", "kaohe-hub.service"),
        (
            "kaohe-node-deliver@.service",
            "kaohe-node-deliver@xiaoqi.service",
        ),
        (
            "kaohe-node-deliver@.timer",
            "kaohe-node-deliver@xiaoqi.timer",
        ),
    ];
    let mut args = vec!["verify".to_owned()];
    for (file, instance) in units {
        let text = std::fs::read_to_string(repo(&format!("deploy/systemd/{file}"))).unwrap();
        assert!(text.contains("/usr/local/bin/kaohe") || file.ends_with(".timer"));
        let path = tmp.path().join(instance);
        std::fs::write(&path, text.replace("/usr/local/bin/kaohe", exe)).unwrap();
        args.push(s(&path).to_owned());
    }
    let o = Command::new("systemd-analyze")
        .args(&args)
        .env("SYSTEMD_LOG_COLOR", "0")
        .output()
        .expect("run systemd-analyze");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    // systemd-analyze exits 0 on settings it ignores; they are faults all the same.
    assert!(err.trim().is_empty(), "systemd-analyze verify:\n{err}");
}
