//! One socket's loop, on axum's own `WebSocket`: read a frame, decode and dispatch it with the
//! generated trait (`dispatch_frame_with`), answer with the outcome's frame (a reply carrying
//! the request's `id`, or our error reply), and in between forward the room's pushes.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use protocol_core::{Disconnect, Dispatch, Outcome, dispatch_frame_with};
use tokio::sync::Notify;

use crate::protocol::ClientMsg;
use crate::room::{App, AxumSocket, Room};

/// The largest text frame answered, in bytes: a larger one closes the socket with 1009.
/// (axum's own limit, set higher in `router`, bounds what is buffered before this check.)
pub const MAX_TEXT_FRAME: usize = 64 * 1024;

/// How long a closing socket waits for the peer's close frame.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Serve one upgraded socket until it closes.
pub(crate) async fn serve(mut socket: WebSocket, room: Arc<Room>) {
    let (cx, mut pushes, overflow) = room.enter();
    <ClientMsg as Dispatch<App, AxumSocket>>::connected(&App, &cx).await;
    let end = loop {
        tokio::select! {
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if text.len() > MAX_TEXT_FRAME {
                        let reason = format!(
                            "message of {} bytes is over the limit of {MAX_TEXT_FRAME}",
                            text.len()
                        );
                        break close(&mut socket, 1009, reason).await;
                    }
                    let outcome =
                        dispatch_frame_with::<ClientMsg, _, AxumSocket>(&App, &cx, &text).await;
                    if let Outcome::Close { code, reason } = outcome {
                        break close(&mut socket, code, reason).await;
                    }
                    if let Some(frame) = outcome.frame()
                        && let Err(end) = send(&mut socket, Message::text(frame), &overflow).await
                    {
                        break end;
                    }
                }
                Some(Ok(Message::Binary(_))) => {
                    break close(&mut socket, 1003, "binary frames are not accepted".into()).await;
                }
                // axum answers pings itself.
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame.map_or((1005, String::new()), |f| {
                        (f.code, f.reason.as_str().to_owned())
                    });
                    break Disconnect::new(code, &reason, false);
                }
                Some(Err(e)) => break Disconnect::new(1006, &e.to_string(), false),
                None => break Disconnect::new(1006, "", false),
            },
            Some(frame) = pushes.recv() => {
                if let Err(end) = send(&mut socket, Message::Text(frame), &overflow).await {
                    break end;
                }
            }
            () = overflow.notified() => break slow_consumer(&mut socket).await,
        }
    };
    <ClientMsg as Dispatch<App, AxumSocket>>::disconnected(&App, &cx, &end).await;
}

/// Send a frame; a peer that does not read while its queue overflows is closed meanwhile.
async fn send(socket: &mut WebSocket, msg: Message, overflow: &Notify) -> Result<(), Disconnect> {
    tokio::select! {
        sent = socket.send(msg) => sent.map_err(|e| Disconnect::new(1006, &e.to_string(), false)),
        () = overflow.notified() => Err(slow_consumer(socket).await),
    }
}

async fn slow_consumer(socket: &mut WebSocket) -> Disconnect {
    close(
        socket,
        1008,
        "slow consumer: too many queued messages".into(),
    )
    .await
}

/// Send a close frame and wait for the peer's (both bounded by [`CLOSE_GRACE`]: the peer may
/// be gone or not reading), and say how the socket ended.
async fn close(socket: &mut WebSocket, code: u16, reason: String) -> Disconnect {
    let end = Disconnect::new(code, &reason, true);
    let frame = CloseFrame {
        code,
        reason: Utf8Bytes::from(reason),
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        socket.send(Message::Close(Some(frame))).await?;
        // The peer's close in answer, so it sees ours before the TCP close.
        while let Some(msg) = socket.recv().await {
            if matches!(msg?, Message::Close(_)) {
                break;
            }
        }
        Ok::<(), axum::Error>(())
    })
    .await;
    end
}
