//! `ratios resume`: what room streams cost on the shipped `chat-server` binary, in its own
//! process: the memory a full history takes per stored message, and how fast a resume replays
//! (clients each joining a full room with `since` at offset 0 and receiving all of it).

use std::time::{Duration, Instant};

use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;

use crate::chat_load::{Server, Ws, connect, next_text};

/// What one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Resume {
    /// Rooms filled.
    pub rooms: usize,
    /// Messages stored per room (the history's size).
    pub per_room: usize,
    /// Bytes of text per message.
    pub text_bytes: usize,
    /// Server RSS growth per stored message, in bytes.
    pub rss_per_message: f64,
    /// Messages replayed per second, all resuming clients together.
    pub replay_per_s: f64,
    /// Resuming clients.
    pub resumers: usize,
    /// Messages the resuming clients received (should be `resumers * per_room`).
    pub replayed: u64,
    /// Whether every resume said `recovered: true`.
    pub all_recovered: bool,
}

fn field<'a>(frame: &'a str, name: &str) -> Option<&'a str> {
    let key = format!(r#""{name}":"#);
    let at = frame.find(&key)? + key.len();
    let rest = &frame[at..];
    if let Some(s) = rest.strip_prefix('"') {
        return s.find('"').map(|e| &s[..e]);
    }
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    Some(&rest[..end])
}

/// Join `room` (optionally resuming from `since`); the `joined` frame, and the `message`
/// frames received before it.
async fn join(
    ws: &mut Ws,
    room: &str,
    since: Option<(&str, u64)>,
) -> std::io::Result<(String, u64)> {
    let frame = match since {
        None => format!(r#"{{"type":"join","room":"{room}"}}"#),
        Some((epoch, offset)) => format!(
            r#"{{"type":"join","room":"{room}","since":{{"epoch":"{epoch}","offset":{offset}}}}}"#
        ),
    };
    ws.send(Message::text(frame))
        .await
        .map_err(std::io::Error::other)?;
    let until = Instant::now() + Duration::from_secs(60);
    let mut replayed = 0;
    while let Some(t) = next_text(ws, until).await {
        if t.contains(r#""type":"joined""#) {
            return Ok((t, replayed));
        }
        if t.contains(r#""type":"message""#) {
            replayed += 1;
        }
    }
    Err(std::io::Error::other(format!("no joined reply for {room}")))
}

/// Fill `rooms` rooms with `per_room` messages each, then have `resumers` clients resume from
/// offset 0 (each room's whole history), all at once.
pub async fn resume(
    server: &Server,
    rooms: usize,
    per_room: usize,
    resumers: usize,
    text_bytes: usize,
) -> std::io::Result<Resume> {
    let text = "x".repeat(text_bytes);
    let mut writer = connect(server.addr, &server.url("writer")).await?;
    let mut epochs = Vec::with_capacity(rooms);
    for r in 0..rooms {
        let (joined, _) = join(&mut writer, &format!("h{r}"), None).await?;
        let epoch = field(&joined, "epoch")
            .ok_or_else(|| std::io::Error::other(format!("joined without epoch: {joined}")))?;
        epochs.push(epoch.to_owned());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.rss();
    // Windowed writes: up to 64 awaiting their `sent`.
    let total = rooms * per_room;
    let (mut sent, mut acked, mut id) = (0usize, 0usize, 0u64);
    let until = Instant::now() + Duration::from_secs(300);
    while acked < total {
        while sent < total && sent - acked < 64 {
            id += 1;
            let frame = format!(
                r#"{{"type":"message","id":{id},"room":"h{}","text":"{text}"}}"#,
                sent % rooms
            );
            writer
                .send(Message::text(frame))
                .await
                .map_err(std::io::Error::other)?;
            sent += 1;
        }
        let Some(t) = next_text(&mut writer, until).await else {
            return Err(std::io::Error::other(format!(
                "filling stopped at {acked}/{total}"
            )));
        };
        if t.contains(r#""type":"sent""#) {
            acked += 1;
        } else if t.contains(r#""type":"error""#) {
            return Err(std::io::Error::other(format!("filling refused: {t}")));
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = server.rss();
    let rss_per_message = after.saturating_sub(before) as f64 / total as f64;

    let mut clients = Vec::with_capacity(resumers);
    for i in 0..resumers {
        clients.push(connect(server.addr, &server.url(&format!("back{i}"))).await?);
    }
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (i, mut ws) in clients.into_iter().enumerate() {
        let room = format!("h{}", i % rooms);
        let epoch = epochs[i % rooms].clone();
        tasks.push(tokio::spawn(async move {
            let (joined, replayed) = join(&mut ws, &room, Some((&epoch, 0))).await?;
            Ok::<_, std::io::Error>((replayed, joined.contains(r#""recovered":true"#)))
        }));
    }
    let (mut replayed, mut all_recovered) = (0, true);
    for t in tasks {
        let (n, ok) = t.await.map_err(std::io::Error::other)??;
        replayed += n;
        all_recovered &= ok;
    }
    let elapsed = start.elapsed().as_secs_f64();
    Ok(Resume {
        rooms,
        per_room,
        text_bytes,
        rss_per_message,
        replay_per_s: replayed as f64 / elapsed,
        resumers,
        replayed,
        all_recovered,
    })
}
