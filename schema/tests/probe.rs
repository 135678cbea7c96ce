//! `protocol-schema probe` against real servers on 127.0.0.1:0: the notes protocol served
//! correctly (no finding over 20 seeds) and with one planted defect per server (each found,
//! named and shrunk).

mod notes;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use notes::{Defect, MAX_SIZE, NotesServer, nesting};
use protocol_schema::probe::{Finding, FindingKind, ProbeConfig, Report, probe};

fn config(srv: &NotesServer, dir: &Path, seed: u64) -> ProbeConfig {
    let mut c = ProbeConfig::new(srv.url(), dir);
    c.cases = 150;
    c.time = Duration::from_secs(30);
    c.seed = seed;
    c.rate = 0.0;
    // A correct server answers in well under a millisecond here; the deadline only costs time
    // where a planted defect leaves something unanswered.
    c.deadline = Duration::from_millis(500);
    c.max_size = Some(MAX_SIZE);
    c
}

fn kinds(r: &Report) -> BTreeSet<FindingKind> {
    r.findings.iter().map(|f| f.kind).collect()
}

/// Probe a server with `defect`; the report must hold exactly the finding `kind` (for
/// `message_type` when given), shrunk.
fn planted(defect: Defect, kind: FindingKind, message_type: Option<&str>) -> (Report, Finding) {
    let dir = notes::export(&format!("{defect:?}"));
    let srv = NotesServer::start(Some(defect));
    let mut c = config(&srv, &dir, 1);
    // Each unanswered case costs a deadline: fewer cases find these defects as surely.
    c.cases = 60;
    // Shrinking gets as long again.
    c.time = Duration::from_secs(15);
    let report = probe(&c).expect("the probe runs");
    assert_eq!(
        kinds(&report),
        BTreeSet::from([kind]),
        "{defect:?}:\n{report}"
    );
    let f = report
        .findings
        .iter()
        .find(|f| message_type.is_none_or(|t| f.message_type == t))
        .unwrap_or_else(|| panic!("{defect:?}: no {kind} finding for {message_type:?}:\n{report}"))
        .clone();
    assert!(
        f.shrink.starts_with("shrunk"),
        "{defect:?}: {}\n{report}",
        f.shrink
    );
    assert!(!f.reproducer.is_empty(), "{defect:?}:\n{report}");
    let _ = std::fs::remove_dir_all(dir);
    (report, f)
}

#[test]
fn a_correct_server_gives_no_finding_over_20_seeds() {
    let dir = notes::export("correct");
    let srv = NotesServer::start(None);
    let mut cases = 0;
    for seed in 0..20 {
        let report = probe(&config(&srv, &dir, seed)).expect("the probe runs");
        assert!(report.findings.is_empty(), "seed {seed}:\n{report}");
        assert_eq!(report.exit_code(), 0);
        cases += report.cases;
    }
    // Every case ran: 150 generated and the two limit frames per seed.
    assert_eq!(cases, 20 * 152);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn error_reply_without_the_request_id() {
    let (_, f) = planted(Defect::ErrorWithoutId, FindingKind::ErrorWithoutId, None);
    let received = f.received.expect("the error frame");
    assert!(
        received.contains("\"type\":\"error\"") && !received.contains("\"id\""),
        "{received}"
    );
}

#[test]
fn reply_with_a_field_the_schema_forbids() {
    let (_, f) = planted(
        Defect::ForbiddenField,
        FindingKind::InvalidServerFrame,
        Some("stored"),
    );
    assert!(f.detail.contains("extra"), "{}", f.detail);
    assert!(f.received.unwrap().contains("\"extra\":1"));
    // Shrunk to one `put`: the only request whose reply is `stored`.
    assert!(f.reproducer[0].contains("\"put\""), "{:?}", f.reproducer);
}

#[test]
fn request_never_answered() {
    let (_, f) = planted(Defect::GetNeverAnswered, FindingKind::NoReply, Some("get"));
    assert!(f.detail.contains("no reply within 500 ms"), "{}", f.detail);
    // Nothing left to drop: the tag, the id and the key, the key shrunk to "".
    let frame: serde_json::Value = serde_json::from_str(&f.reproducer[0]).unwrap();
    assert_eq!(frame["type"], "get");
    assert_eq!(frame["key"], "");
    assert_eq!(frame.as_object().unwrap().len(), 3, "{frame}");
}

#[test]
fn invalid_message_accepted_silently() {
    let (report, f) = planted(Defect::InvalidAccepted, FindingKind::InvalidAccepted, None);
    assert!(f.detail.contains("invalid message"), "{}", f.detail);
    // Every message type with a mutant was caught.
    assert!(report.findings.len() >= 5, "{report}");
}

#[test]
fn server_crashing_on_deep_nesting() {
    let (_, f) = planted(
        Defect::CrashOnDeepNesting,
        FindingKind::ConnectionDropped,
        None,
    );
    assert!(f.detail.contains("nested"), "{}", f.detail);
    // Shrunk from 10,000 levels to just over the 1,000 that crash it.
    let depth = nesting(&f.reproducer[0]);
    assert!(
        (1001..=1200).contains(&depth),
        "depth {depth}: {:?}",
        f.reproducer
    );
    // (The frame's own object is one more level.)
    assert_eq!(nesting(&f.example[0]), 10_001);
}

#[test]
fn server_closing_on_a_bad_message() {
    let (_, f) = planted(
        Defect::CloseOnBadMessage,
        FindingKind::ClosedOnInvalid,
        None,
    );
    assert!(f.detail.contains("1008"), "{}", f.detail);
}

#[test]
fn the_same_seed_sends_the_same_cases() {
    let dir = notes::export("seeded");
    let srv = NotesServer::start(Some(Defect::ErrorWithoutId));
    let run = |seed| {
        let mut c = config(&srv, &dir, seed);
        c.cases = 40;
        let r = probe(&c).unwrap();
        r.findings
            .iter()
            .map(|f| (f.kind, f.message_type.clone(), f.count, f.example.clone()))
            .collect::<Vec<_>>()
    };
    let a = run(9);
    assert!(!a.is_empty());
    assert_eq!(a, run(9));
    assert_ne!(a, run(10));
    let _ = std::fs::remove_dir_all(dir);
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_protocol-schema"))
}

#[test]
fn the_command_exits_0_1_2_and_writes_json() {
    let dir = notes::export("cli");
    let good = NotesServer::start(None);
    let bad = NotesServer::start(Some(Defect::CloseOnBadMessage));
    let run = |url: &str, extra: &[&str]| {
        bin()
            .args(["probe", "--url", url, "--schema-dir"])
            .arg(&dir)
            .args([
                "--cases",
                "30",
                "--rate",
                "0",
                "--deadline",
                "300",
                "--max-size",
            ])
            .arg(MAX_SIZE.to_string())
            .args(extra)
            .output()
            .unwrap()
    };
    let out = run(&good.url(), &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no findings"));

    let out = run(&bad.url(), &["--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["cases"], 32);
    let f = &json["findings"][0];
    assert_eq!(f["kind"], "closed-on-invalid");
    assert!(
        f["reproducer"].as_array().is_some_and(|r| !r.is_empty()),
        "{f}"
    );

    // Nothing listens there: could not run.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = run(&format!("ws://127.0.0.1:{port}/ws"), &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot probe"));

    // A setup the server does not answer as recorded: could not run, and why.
    let setup = dir.join("setup.jsonl");
    std::fs::write(
        &setup,
        "{\"from\":\"client\",\"conn\":1,\"frame\":{\"type\":\"ping\",\"n\":1}}\n\
         {\"from\":\"server\",\"conn\":1,\"frame\":{\"type\":\"joined\",\"room\":\"r\",\"members\":[]}}\n",
    )
    .unwrap();
    let out = run(&good.url(), &["--setup", setup.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("setup") && err.contains("joined"), "{err}");

    let out = bin()
        .args(["probe", "--url", "wss://x/", "--schema-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wss:// is not supported"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_setup_reaches_the_handlers_behind_it() {
    let dir = notes::export("setup");
    let srv = NotesServer::start(None);
    let setup = dir.join("join.jsonl");
    std::fs::write(
        &setup,
        "{\"from\":\"client\",\"conn\":1,\"frame\":{\"type\":\"join\",\"room\":\"lobby\"}}\n\
         {\"from\":\"server\",\"conn\":1,\"frame\":{\"type\":\"joined\",\"room\":\"lobby\",\"members\":[\"c1\"]}}\n",
    )
    .unwrap();
    let mut c = config(&srv, &dir, 3);
    c.setup = Some(setup);
    c.conns = 3;
    c.cases = 600;
    let report = probe(&c).unwrap();
    assert!(report.findings.is_empty(), "{report}");
    assert_eq!(report.connections, 3);
    // On one connection (the same cases every run): `move` and `leave` into the joined room
    // get past the membership check far more often than after a generated `join` of a name
    // that a later message happens to reuse.
    let reached = |c: &ProbeConfig| {
        let srv = NotesServer::start(None);
        let mut c = c.clone();
        c.url = srv.url();
        let r = probe(&c).unwrap();
        assert!(r.findings.is_empty(), "{r}");
        srv.notes.in_room.load(std::sync::atomic::Ordering::Relaxed)
    };
    c.conns = 1;
    let with = reached(&c);
    c.setup = None;
    let without = reached(&c);
    assert!(
        with > 2 * without,
        "with the setup {with}, without {without}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn server_dying_on_deep_nesting() {
    let dir = notes::export("die");
    let srv = NotesServer::start(Some(Defect::DieOnDeepNesting));
    let report = probe(&config(&srv, &dir, 1)).expect("the probe runs");
    assert_eq!(
        kinds(&report),
        BTreeSet::from([FindingKind::ServerDied, FindingKind::ConnectionDropped]),
        "{report}"
    );
    let dropped = report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::ConnectionDropped)
        .unwrap();
    assert!(dropped.detail.contains("nested"), "{report}");
    // It cannot be shrunk against a dead server: the example is the reproducer, and says so.
    assert_eq!(
        dropped.shrink,
        "not shrunk: the server stopped accepting connections"
    );
    assert_eq!(nesting(&dropped.reproducer[0]), 10_001);
    let died = report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::ServerDied)
        .unwrap();
    assert!(
        died.detail.contains("cannot reconnect") && died.detail.contains("at the end failed too"),
        "{}",
        died.detail
    );
    assert_eq!(report.exit_code(), 1);
    let _ = std::fs::remove_dir_all(dir);
}
