//! `protocol-schema replay`: a session recorded by the test kit, replayed against a fresh notes
//! server whose versions differ (volatile values mapped by first appearance, also in the client
//! frames sent after), and against one with a planted defect (the divergence as a diff).

mod notes;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use notes::{ClientMsg, Defect, Notes, NotesServer, ServerMsg};
use protocol_core::testing::TestServer;
use protocol_schema::replay::{ReplayConfig, replay};

/// Record a two-connection session (identities c1, c2, as the notes test server names its
/// connections in order) and return the recording's path.
fn record(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("replay-{}-{name}.jsonl", std::process::id()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let srv = TestServer::<ClientMsg, Notes>::start(Notes::new(0)).await;
        srv.record_to(&path).unwrap();
        let mut a = srv.connect_as("c1").await;
        let mut b = srv.connect_as("c2").await;
        for c in [&mut a, &mut b] {
            c.send(&ClientMsg::Join {
                room: "lobby".into(),
            })
            .await;
            c.expect_push(|m| matches!(m, ServerMsg::Joined { .. }), "joined")
                .await;
        }
        let Ok(ServerMsg::Stored { version, .. }) = a
            .request(&ClientMsg::Put {
                key: "k".into(),
                value: 7,
                tags: vec!["x".into()],
                note: None,
            })
            .await
        else {
            panic!("no stored")
        };
        let got = a.request(&ClientMsg::Get { key: "k".into() }).await;
        assert!(matches!(got, Ok(ServerMsg::Value { version: v, .. }) if v == version));
        b.send(&ClientMsg::Move {
            room: "lobby".into(),
            x: 3,
            y: -4,
            fast: false,
        })
        .await;
        a.expect_push(|m| matches!(m, ServerMsg::Moved { .. }), "moved")
            .await;
        // The version the server made up, sent back: the replay must send its own.
        let deleted = a
            .request(&ClientMsg::Delete {
                key: "k".into(),
                version,
            })
            .await;
        assert!(
            matches!(deleted, Ok(ServerMsg::Deleted { .. })),
            "{deleted:?}"
        );
        b.send_raw_text("{not json").await;
        b.expect_error("invalid_json").await;
        let pong = b.request(&ClientMsg::Ping { n: 9 }).await;
        assert!(matches!(pong, Ok(ServerMsg::Pong { n: 9 })));
    });
    path
}

fn config(srv: &NotesServer, recording: &Path) -> ReplayConfig {
    let mut c = ReplayConfig::new(srv.url(), recording);
    c.deadline = Duration::from_secs(2);
    c
}

#[test]
fn a_recorded_session_replays_against_a_fresh_server() {
    let rec = record("fresh");
    let server_frames = std::fs::read_to_string(&rec)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"from\":\"server\""))
        .count() as u64;
    // Versions start at 501 on this server, at 1 in the recording.
    let srv = NotesServer::start_at(None, 500);
    let report = replay(&config(&srv, &rec)).unwrap();
    assert!(report.divergences.is_empty(), "{report}");
    assert_eq!(report.exit_code(), 0);
    assert_eq!(report.connections, 2);
    assert_eq!(report.matched, server_frames);
    assert_eq!(
        report.bound.get("version=1").map(String::as_str),
        Some("501"),
        "{report}"
    );
    let _ = std::fs::remove_file(rec);
}

#[test]
fn a_divergence_is_reported_as_a_diff_and_can_be_ignored() {
    let rec = record("diverge");
    let srv = NotesServer::start(Some(Defect::ForbiddenField));
    let report = replay(&config(&srv, &rec)).unwrap();
    assert_eq!(report.divergences.len(), 1, "{report}");
    let d = &report.divergences[0];
    assert_eq!((d.conn, d.pointer.as_str()), (1, "/extra"), "{report}");
    assert!(d.diff.contains("+  \"extra\": 1"), "{}", d.diff);
    assert_eq!(report.exit_code(), 1);
    let text = report.to_string();
    assert!(
        text.contains("conn 1, line") && text.contains("first divergence at /extra"),
        "{text}"
    );

    let mut c = config(&srv, &rec);
    c.ignore = vec!["/extra".into()];
    let report = replay(&c).unwrap();
    assert!(report.divergences.is_empty(), "{report}");
    let _ = std::fs::remove_file(rec);
}

#[test]
fn a_server_that_answers_differently_diverges_where_it_does() {
    let rec = record("never");
    let srv = NotesServer::start(Some(Defect::GetNeverAnswered));
    let mut c = config(&srv, &rec);
    c.deadline = Duration::from_millis(300);
    let report = replay(&c).unwrap();
    assert_eq!(report.divergences.len(), 1, "{report}");
    let d = &report.divergences[0];
    assert_eq!(d.conn, 1);
    assert!(d.reason.contains("no frame within 300 ms"), "{}", d.reason);
    assert_eq!(d.expected["type"], "value");
    let _ = std::fs::remove_file(rec);
}

#[test]
fn the_command_exits_0_1_2() {
    let rec = record("cli");
    let good = NotesServer::start(None);
    let bad = NotesServer::start(Some(Defect::ForbiddenField));
    let run = |url: &str, file: &Path| {
        Command::new(env!("CARGO_BIN_EXE_protocol-schema"))
            .args(["replay", "--url", url])
            .arg(file)
            .output()
            .unwrap()
    };
    let out = run(&good.url(), &rec);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("no divergence"));
    let out = run(&bad.url(), &rec);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("conn 1") && stdout.contains("/extra"),
        "{stdout}"
    );

    let junk = rec.with_extension("junk");
    std::fs::write(&junk, "{\"from\":\"nobody\"}\n").unwrap();
    let out = run(&good.url(), &junk);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains(":1: \"from\" must be"));
    let _ = std::fs::remove_file(junk);
    let _ = std::fs::remove_file(rec);
}
