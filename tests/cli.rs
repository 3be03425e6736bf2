//! The real `kaohe` binary, driven as an official or a script would drive it.
//!
//! One integration-test binary for the root package (STYLE.md): each test
//! runs `CARGO_BIN_EXE_kaohe` in a temporary directory and asserts on its exit
//! status and its Chinese output.
//!
//! Layout: this file holds the helpers every part runs the binary with and
//! the tests of single commands (help, command-line mistakes, packs);
//! `roster/`: `kaohe hub units import` and the workbooks that once got past
//! it; `federation/`: a hub and a node together; `demo/`: `kaohe demo`;
//! `guide/`: every command of `deploy/README.md`, run as written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

mod demo;
mod federation;
mod guide;
mod roster;

/// Runs `kaohe <args>` to completion (no stdin, no `KAOHE_LOG`).
fn kaohe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kaohe"))
        .args(args)
        .env_remove("KAOHE_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run the kaohe binary")
}

/// Runs `kaohe <args>`, which must succeed; returns its stdout.
fn kaohe_ok(args: &[&str]) -> String {
    let o = kaohe(args);
    assert!(
        o.status.success(),
        "kaohe {args:?} failed ({}):\n{}\n{}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A file of this repository.
fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn rubric_2022() -> String {
    path_str(&repo("rulepacks/baofeng-2022/rubric.toml")).to_owned()
}

/// The public key `kaohe pack keygen` printed (`ed25519:…`).
fn printed_public_key(o: &Output) -> String {
    stdout(o)
        .split_whitespace()
        .flat_map(|w| w.split('：'))
        .find(|w| w.starts_with("ed25519:"))
        .expect("keygen prints the public key")
        .to_owned()
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

#[test]
fn help_is_chinese_on_every_level() {
    let top = kaohe(&["--help"]);
    assert!(top.status.success());
    let text = stdout(&top);
    for needle in [
        "考核",
        "用法（usage）",
        "命令（commands）",
        "选项（options）",
        "显示帮助（help）",
        "pack",
        "hub",
    ] {
        assert!(
            text.contains(needle),
            "kaohe --help lacks {needle:?}:\n{text}"
        );
    }
    assert!(
        !text.contains("Print help"),
        "clap's English help text leaked:\n{text}"
    );

    let sub = kaohe(&["pack", "check", "--help"]);
    assert!(sub.status.success());
    let text = stdout(&sub);
    assert!(
        text.contains("参数（arguments）") && text.contains("检查考核细则"),
        "{text}"
    );
    assert!(
        !text.contains("Arguments:") && !text.contains("Options:"),
        "{text}"
    );
}

#[test]
fn pack_check_accepts_the_2022_rubric() {
    let o = kaohe(&["pack", "check", &rubric_2022()]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("检查通过"), "{text}");
    assert!(text.contains("36 个指标"), "{text}");
}

#[test]
fn pack_check_and_doc_take_the_pack_directory_as_an_official_types_it() {
    let dir = path_str(&repo("rulepacks/baofeng-2023")).to_owned();
    let o = kaohe(&["pack", "check", &dir]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("检查通过"), "{}", stdout(&o));
    let out = tempfile::tempdir().unwrap();
    let o = kaohe(&["pack", "doc", &dir, "--out", path_str(out.path())]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    // The ASSUMPTIONS.md beside the rubric is found from the directory too.
    let html = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "html"))
        .expect("an HTML page");
    assert!(std::fs::read_to_string(html).unwrap().contains("A-41"));
}

#[test]
fn pack_check_names_file_line_and_column_of_each_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    let src = std::fs::read_to_string(rubric_2022()).unwrap().replacen(
        "[pack]",
        "[pack]\nbogus_key = 1",
        1,
    );
    std::fs::write(&bad, &src).unwrap();
    let line = src
        .lines()
        .position(|l| l.starts_with("bogus_key"))
        .unwrap()
        + 1;

    let o = kaohe(&["pack", "check", path_str(&bad)]);
    assert!(!o.status.success());
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(all.contains(&format!("bad.toml:{line}:1")), "{all}");
    assert!(
        all.contains("bogus_key") && all.contains("未知的键"),
        "{all}"
    );
}

#[test]
fn pack_eval_prints_the_chinese_score_sheet() {
    let fixture = repo("rulepacks/baofeng-2022/fixtures/10-court-major-problem.toml");
    let o = kaohe(&["pack", "eval", &rubric_2022(), path_str(&fixture)]);
    let text = stdout(&o);
    for needle in [
        "换算得分（converted）",
        "总分（total）",
        "等次（grade）",
        "优秀",
        "发生重大法治问题",
    ] {
        assert!(
            text.contains(needle),
            "eval output lacks {needle:?}:\n{text}"
        );
    }
}

/// The whole life of a pack at the county office: two authorities make keys,
/// the rubric is compiled, each office signs, a verifier pinning both keys
/// with threshold 2 accepts it, and the signed module scores a unit exactly
/// as the reference interpreter does.
#[test]
fn pack_build_sign_verify_and_eval_through_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let key_a = d.join("office.key");
    let key_b = d.join("justice.key");
    let pack = d.join("baofeng-2022.wasm");

    let a = kaohe(&["pack", "keygen", "-o", path_str(&key_a)]);
    let b = kaohe(&["pack", "keygen", "-o", path_str(&key_b)]);
    assert!(
        a.status.success() && b.status.success(),
        "{}{}",
        stderr(&a),
        stderr(&b)
    );
    let (pub_a, pub_b) = (printed_public_key(&a), printed_public_key(&b));

    let built = kaohe(&["pack", "build", &rubric_2022(), "-o", path_str(&pack)]);
    assert!(built.status.success(), "{}", stderr(&built));

    let signed_a = kaohe(&["pack", "sign", path_str(&pack), "--key", path_str(&key_a)]);
    assert!(signed_a.status.success(), "{}", stderr(&signed_a));

    let verify = |threshold: &str| {
        kaohe(&[
            "pack",
            "verify",
            path_str(&pack),
            "--authority",
            &pub_a,
            "--authority",
            &pub_b,
            "--threshold",
            threshold,
            "--year",
            "2022",
        ])
    };
    let one_of_two = verify("2");
    assert!(
        !one_of_two.status.success(),
        "one signature must not meet a threshold of 2"
    );
    assert!(stderr(&one_of_two).contains("1"), "{}", stderr(&one_of_two));

    let signed_b = kaohe(&["pack", "sign", path_str(&pack), "--key", path_str(&key_b)]);
    assert!(signed_b.status.success(), "{}", stderr(&signed_b));
    let two_of_two = verify("2");
    assert!(
        two_of_two.status.success(),
        "{}{}",
        stdout(&two_of_two),
        stderr(&two_of_two)
    );

    let inspect = kaohe(&["pack", "inspect", path_str(&pack)]);
    assert!(inspect.status.success(), "{}", stderr(&inspect));
    assert!(stdout(&inspect).contains("baofeng"), "{}", stdout(&inspect));
    // The fixtures beside the rubric travel in the pack as its self-test.
    assert!(
        stdout(&inspect).contains("自检（self-test）：") && stdout(&inspect).contains("张得分表"),
        "{}",
        stdout(&inspect)
    );

    // A changed byte is refused however many authorities signed.
    let mut bytes = std::fs::read(&pack).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let tampered: PathBuf = d.join("tampered.wasm");
    std::fs::write(&tampered, &bytes).unwrap();
    std::fs::copy(d.join("baofeng-2022.wasm.sig"), d.join("tampered.wasm.sig")).unwrap();
    let refused = kaohe(&[
        "pack",
        "verify",
        path_str(&tampered),
        "--authority",
        &pub_a,
        "--authority",
        &pub_b,
        "--threshold",
        "1",
    ]);
    assert!(!refused.status.success());

    // The compiled pack and the interpreter print the same sheet.
    for fixture in ["01-township-full.toml", "13-hospital-serious-case.toml"] {
        let ev = repo(&format!("rulepacks/baofeng-2022/fixtures/{fixture}"));
        let by_interp = kaohe(&["pack", "eval", &rubric_2022(), path_str(&ev)]);
        let by_wasm = kaohe(&["pack", "eval", path_str(&pack), path_str(&ev)]);
        let sheet = |o: &Output| {
            let t = stdout(o);
            t[t.find("—— 汇总").expect("a finalised sheet")..].to_owned()
        };
        assert_eq!(sheet(&by_interp), sheet(&by_wasm), "{fixture}");
    }

    // `pack eval` keeps the compiled pack in the user's cache directory:
    // the second evaluation reads it instead of compiling again.
    let cache = d.join("cache");
    let ev = repo("rulepacks/baofeng-2022/fixtures/01-township-full.toml");
    let eval = || {
        Command::new(env!("CARGO_BIN_EXE_kaohe"))
            .args(["pack", "eval", path_str(&pack), path_str(&ev)])
            .env("XDG_CACHE_HOME", &cache)
            .env_remove("KAOHE_LOG")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let first = eval();
    assert!(first.status.success(), "{}", stderr(&first));
    let entries: Vec<PathBuf> = std::fs::read_dir(cache.join("kaohe/module-cache"))
        .expect("a module cache")
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        entries.len() == 1 && entries[0].extension().is_some_and(|x| x == "cwasm"),
        "{entries:?}"
    );
    let second = eval();
    assert_eq!(stdout(&first), stdout(&second));
}

/// Command-line mistakes are told in Chinese (clap's own words are
/// English), with the usage line and exit code 2.
#[test]
fn command_line_mistakes_are_told_in_chinese() {
    for (args, needles) in [
        (
            &["nod"][..],
            &["没有命令「nod」", "是否想用「node」", "用法（usage）"][..],
        ),
        (
            &["pack", "doc", "x.toml", "--bogus"],
            &["不认识的参数「--bogus」"],
        ),
        (
            &["hub", "node", "add", "--name", "x"],
            &["缺少必需的参数", "--assessor", "--years"],
        ),
        (
            &[
                "node", "template", "--year", "2022", "-o", "x", "--format", "pdf",
            ],
            &["取值「pdf」无效", "可选：xlsx、csv"],
        ),
        (&["node", "submit", "--year", "abc"], &["须为整数"]),
    ] {
        let o = kaohe(args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.starts_with("错误（error）："), "{args:?}: {err}");
        for n in needles {
            assert!(err.contains(n), "{args:?}: {n:?} missing from\n{err}");
        }
        assert!(!err.contains("For more information"), "{args:?}: {err}");
    }
    // Help still prints as help, successfully.
    assert!(kaohe(&["node", "--help"]).status.success());
}

/// `kaohe … | head`: a reader that goes away ends kaohe quietly, like any
/// Unix tool — no panic and backtrace (which also failed a `pipefail`
/// script of the deploy guide).
#[test]
fn output_to_a_reader_that_has_gone_ends_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kaohe"))
        .args(["pack", "check", &rubric_2022()])
        .env_remove("KAOHE_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the kaohe binary");
    // The reader goes before kaohe has compiled the rubric and printed.
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        o.status.code(),
        Some(141),
        "as if by SIGPIPE: {:?}",
        o.status
    );
}
