use std::path::PathBuf;

use clap::Parser;
use jiff::civil::date;

use super::calendar::CalendarCommand;
use super::node::{NodeCommand, ScopeArgs};
use super::units::UnitsCommand;
use super::{Args, Command, run};
use crate::registry::nodes::AssessorKind;
use crate::{audit, db};

#[derive(Debug, Parser)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

#[test]
fn node_add_parses_comma_separated_scope_lists() {
    let cli = Cli::try_parse_from([
        "hub",
        "--data-dir",
        "/tmp/x",
        "node",
        "add",
        "--name",
        "卫健委节点",
        "--assessor",
        "卫健委",
        "--key",
        "ed25519:AAAA",
        "--subtrees",
        "wjw",
        "--methods",
        "daily,field_inspection",
        "--years",
        "2024,2025",
    ])
    .unwrap();
    match cli.args.command {
        Command::Node(NodeCommand::Add {
            assessor,
            scope,
            own_unit,
            ..
        }) => {
            assert_eq!(assessor, AssessorKind::HealthCommission);
            assert_eq!(scope.methods, vec!["daily", "field_inspection"]);
            assert_eq!(scope.years, vec![2024, 2025]);
            assert_eq!(scope.subtrees, vec!["wjw"]);
            assert!(scope.categories.is_empty());
            assert!(!own_unit);
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// `--operator` and `--data-dir` are accepted after the subcommand too,
/// where an official writes them last (and are listed in its help).
#[test]
fn operator_and_data_dir_are_accepted_after_the_subcommand() {
    let cli = Cli::try_parse_from([
        "hub",
        "node",
        "revoke",
        "肖旗乡节点",
        "--reason",
        "测试",
        "--operator",
        "李四",
        "--data-dir",
        "/tmp/hub-x",
    ])
    .unwrap();
    assert_eq!(cli.args.operator.as_deref(), Some("李四"));
    assert_eq!(cli.args.data_dir, PathBuf::from("/tmp/hub-x"));
    let mut cmd = <Cli as clap::CommandFactory>::command();
    // Global arguments reach the subcommands when the command is built.
    cmd.build();
    let help = cmd
        .find_subcommand_mut("node")
        .and_then(|n| n.find_subcommand_mut("revoke"))
        .unwrap()
        .render_long_help()
        .to_string();
    assert!(help.contains("--operator"), "{help}");
}

#[test]
fn deadline_parses_an_iso_date() {
    let cli = Cli::try_parse_from([
        "hub",
        "calendar",
        "deadline",
        "--from",
        "2023-09-28",
        "--days",
        "5",
    ])
    .unwrap();
    assert!(matches!(
        cli.args.command,
        Command::Calendar(CalendarCommand::Deadline { from, days: 5, natural: false })
            if from == date(2023, 9, 28)
    ));
    assert_eq!(cli.args.data_dir, PathBuf::from("kaohe-hub"));
}

#[test]
fn commands_run_end_to_end_against_a_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("hub");
    let args = |command| Args {
        data_dir: data_dir.clone(),
        operator: Some("tester".into()),
        command,
    };
    // Nothing works before init, and nothing is created by trying.
    let err = run(args(Command::Node(NodeCommand::List))).unwrap_err();
    assert!(format!("{err:#}").contains("kaohe hub init"), "{err:#}");
    assert!(!data_dir.exists());

    run(args(Command::Init(super::init::InitArgs { admin: None }))).unwrap();
    let csv = dir.path().join("units.csv");
    std::fs::write(
        &csv,
        "单位编号,单位名称,类别,上级单位,主管部门,考核主体\n\
             t1,肖旗乡,township,,,依法治县办\n\
             t1v1,肖旗村,village,t1,,t1\n",
    )
    .unwrap();
    run(args(Command::Units(UnitsCommand::Import {
        file: csv,
        year: 2024,
    })))
    .unwrap();
    run(args(Command::Units(UnitsCommand::List { year: 2024 }))).unwrap();
    run(args(Command::Node(NodeCommand::Add {
        name: "肖旗乡节点".into(),
        assessor: AssessorKind::Township,
        assessor_unit: Some("t1".into()),
        key: crate::registry::nodes::tests::key(9),
        scope: ScopeArgs {
            categories: vec![],
            subtrees: vec!["t1".into()],
            units: vec![],
            methods: vec!["daily".into()],
            years: vec![2024],
        },
        own_unit: false,
    })))
    .unwrap();
    run(args(Command::Node(NodeCommand::Edit {
        node: "肖旗乡节点".into(),
        categories: None,
        subtrees: Some(vec![String::new()]),
        units: Some(vec!["t1v1".into()]),
        methods: None,
        years: None,
        own_unit: None,
        assessor_unit: None,
        reason: "只授权村".into(),
    })))
    .unwrap();
    run(args(Command::Node(NodeCommand::Revoke {
        node: "肖旗乡节点".into(),
        reason: "测试".into(),
    })))
    .unwrap();
    run(args(Command::Calendar(CalendarCommand::Show {
        year: 2024,
    })))
    .unwrap();
    run(args(Command::Calendar(CalendarCommand::Deadline {
        from: date(2026, 12, 28),
        days: 3,
        natural: false,
    })))
    .unwrap();
    let err = run(args(Command::Calendar(CalendarCommand::Deadline {
        from: date(2026, 12, 28),
        days: 4,
        natural: false,
    })))
    .unwrap_err();
    assert!(format!("{err:#}").contains("2027"), "{err:#}");

    let conn = db::open_existing(&data_dir).unwrap();
    let actions: Vec<String> = audit::recent(&conn, 10)
        .unwrap()
        .into_iter()
        .map(|r| format!("{} {}", r.operator, r.action))
        .collect();
    assert_eq!(
        actions,
        vec![
            "tester units.import",
            "tester node.add",
            "tester node.edit",
            "tester node.revoke"
        ]
    );
}
