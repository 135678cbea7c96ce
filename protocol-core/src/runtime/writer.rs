//! A connection's writer: the outbox drained into the socket, the close frame last.

use std::future::Future;

use futures_util::{Sink, SinkExt};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::runtime::hub::ConnEntry;
use crate::runtime::outbox::Next;

fn close_message(code: u16, reason: &str) -> Message {
    // A close reason is at most 123 bytes (RFC 6455 5.5): cut on a char boundary.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code: CloseCode::from(code),
        reason: Utf8Bytes::from(&reason[..end]),
    }))
}

/// The writer: drains the outbox into the socket (a backlog in one flush; the heartbeat's pings
/// come through the outbox too), sends the close frame last. Written against the sink's poll
/// functions so that no frame is held inside the future while it waits.
// Not an `async fn`, which would keep a second copy of its arguments (see `read_loop`).
#[allow(clippy::manual_async_fn)]
pub(crate) fn write_loop<'a, Si>(
    mut sink: Si,
    entry: &'a ConnEntry,
) -> impl Future<Output = ()> + Send + 'a
where
    Si: Sink<Message> + Unpin + Send + 'a,
{
    async move {
        'conn: loop {
            if ready(&mut sink).await.is_err() {
                break;
            }
            let Some(first) = entry.outbox.next().await else {
                break;
            };
            let mut next = Some(first);
            let mut closing = false;
            while let Some(taken) = next.take() {
                let frame = match taken {
                    Next::Frame(frame) => frame,
                    Next::Close(code, reason) => {
                        closing = true;
                        close_message(code, &reason)
                    }
                };
                if sink.start_send_unpin(frame).is_err() {
                    break 'conn;
                }
                if closing {
                    break;
                }
                if ready(&mut sink).await.is_err() {
                    break 'conn;
                }
                // Batch what is queued into one flush (one syscall for a backlog).
                next = entry.outbox.try_next();
            }
            if std::future::poll_fn(|cx| sink.poll_flush_unpin(cx))
                .await
                .is_err()
                || closing
            {
                break;
            }
        }
        entry.outbox.mark_closed();
        let _ = std::future::poll_fn(|cx| sink.poll_close_unpin(cx)).await;
    }
}

/// The sink can take a frame.
async fn ready<Si: Sink<Message> + Unpin>(sink: &mut Si) -> Result<(), Si::Error> {
    std::future::poll_fn(|cx| sink.poll_ready_unpin(cx)).await
}
