//! A Redis broker's background tasks: the publisher (the queue to `PUBLISH`), the subscriber
//! (other nodes' publications to local delivery, resubscribing after an outage), the online
//! writer, and liveness (refresh, reaping dead nodes, writing memberships back).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ::redis::AsyncCommands;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::node::{Shared, lock};
use super::wire::{STREAM_SEQ, decode_fence, decode_publication, node_key, split_entry};
use crate::runtime::hub::Target;

/// Starts every background task of `shared`: the publisher draining `queue`, the subscriber
/// on `pubsub` (already subscribed to the channel), liveness and the online writer.
pub(super) fn spawn(
    shared: &Arc<Shared>,
    queue: mpsc::UnboundedReceiver<Vec<u8>>,
    pubsub: ::redis::aio::PubSub,
) -> Vec<AbortHandle> {
    vec![
        tokio::spawn(Arc::clone(shared).publisher(queue)).abort_handle(),
        tokio::spawn(Arc::clone(shared).subscriber(pubsub)).abort_handle(),
        tokio::spawn(Arc::clone(shared).liveness()).abort_handle(),
        tokio::spawn(Arc::clone(shared).online_writer()).abort_handle(),
    ]
}

impl Shared {
    /// Sends queued publications, a pipeline per batch.
    async fn publisher(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Vec<u8>>) {
        let mut batch = Vec::with_capacity(128);
        let mut backoff = Duration::from_millis(50);
        while rx.recv_many(&mut batch, 128).await > 0 {
            let bytes: usize = batch.iter().map(Vec::len).sum();
            let mut pipe = ::redis::pipe();
            for p in &batch {
                pipe.cmd("PUBLISH").arg(&self.keys.channel).arg(p).ignore();
            }
            let n = batch.len() as u64;
            let sent = pipe.query_async::<()>(&mut self.conn.clone()).await;
            // Counted as queued until sent (or lost): `shutdown` waits for this to reach 0.
            self.queued_frames.fetch_sub(batch.len(), Ordering::Relaxed);
            self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
            batch.clear();
            match sent {
                Ok(()) => {
                    self.counters.published.fetch_add(n, Ordering::Relaxed);
                    self.healthy_again();
                    backoff = Duration::from_millis(50);
                }
                Err(e) => {
                    self.counters.publish_failed.fetch_add(n, Ordering::Relaxed);
                    self.unhealthy("publish", &e);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.config.max_backoff);
                }
            }
        }
    }

    /// Delivers other nodes' publications locally; resubscribes (with backoff) when the
    /// connection drops, then writes this node's memberships back.
    async fn subscriber(self: Arc<Self>, pubsub: ::redis::aio::PubSub) {
        let mut pubsub = pubsub;
        let mut last_seq: HashMap<u64, u64> = HashMap::new();
        loop {
            {
                let mut messages = pubsub.on_message();
                while let Some(msg) = messages.next().await {
                    self.receive(msg.get_payload_bytes(), &mut last_seq);
                }
            }
            self.unhealthy(
                "subscription",
                &::redis::RedisError::from(std::io::Error::other("pub/sub connection closed")),
            );
            let mut backoff = Duration::from_millis(100);
            pubsub = loop {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(self.config.max_backoff);
                match self.client.get_async_pubsub().await {
                    Ok(mut p) => match p.subscribe(&self.keys.channel).await {
                        Ok(()) => break p,
                        Err(e) => self.unhealthy("subscribe", &e),
                    },
                    Err(e) => self.unhealthy("subscribe", &e),
                }
            };
            self.healthy_again();
            self.resync().await;
        }
    }

    fn receive(&self, payload: &[u8], last_seq: &mut HashMap<u64, u64>) {
        if let Some((node, token)) = decode_fence(payload) {
            if node == self.node_num
                && let Some(waiting) = lock(&self.fences).remove(&token)
            {
                let _ = waiting.send(());
            }
            return;
        }
        let Some(mut p) = decode_publication(payload) else {
            self.counters.malformed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                bytes = payload.len(),
                "skipping a payload on the broker channel that is not a publication"
            );
            return;
        };
        if p.node != self.node_num
            && let Target::Stream { except, .. } = &mut p.target
        {
            // Connection ids are the origin node's.
            *except = None;
        }
        if p.seq == STREAM_SEQ && matches!(p.target, Target::Stream { .. }) {
            // Appended stream messages are delivered in the order Redis gave them offsets, on
            // the origin node too (it did not deliver its own); they carry no sequence number.
            if p.node != self.node_num {
                self.counters.received.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(local) = self.local() {
                local.deliver(&p.target, &p.frame);
            }
            return;
        }
        if p.node == self.node_num {
            return;
        }
        if last_seq.len() >= 1024 && !last_seq.contains_key(&p.node) {
            // Node ids are per process: forget the nodes of past restarts.
            last_seq.clear();
        }
        let prev = last_seq.insert(p.node, p.seq);
        if let Some(prev) = prev
            && p.seq > prev + 1
        {
            let missed = p.seq - prev - 1;
            self.counters.missed.fetch_add(missed, Ordering::Relaxed);
            tracing::warn!(origin = %format_args!("{:016x}", p.node), missed, "missed publications of another node");
        }
        self.counters.received.fetch_add(1, Ordering::Relaxed);
        if let Some(local) = self.local() {
            local.deliver(&p.target, &p.frame);
        }
    }

    /// Records in `{prefix}:online:{node}` whether each changed identity is connected here,
    /// asking the hub at the time of writing (so changes out of order cannot leave it wrong).
    async fn online_writer(self: Arc<Self>) {
        loop {
            self.online_wake.notified().await;
            let changed: Vec<Arc<str>> = lock(&self.online_dirty).drain().collect();
            let Some(local) = self.local() else { continue };
            let _shared = self.membership.read().await;
            let mut pipe = ::redis::pipe();
            for identity in &changed {
                let cmd = if local.is_online(identity) {
                    "SADD"
                } else {
                    "SREM"
                };
                pipe.cmd(cmd)
                    .arg(&self.keys.online)
                    .arg(identity.as_ref())
                    .ignore();
            }
            if let Err(e) = pipe.query_async::<()>(&mut self.conn.clone()).await {
                // The resync after the outage writes the whole set again.
                self.needs_resync.store(true, Ordering::Relaxed);
                self.unhealthy("online", &e);
            }
        }
    }

    /// Refreshes this node's liveness and reaps dead nodes, every sixth of `dead_node_after`.
    async fn liveness(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.config.dead_node_after / 6);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            match self.refresh().await {
                Ok(expired) => {
                    self.healthy_again();
                    if expired {
                        tracing::warn!(node = %self.node, "this node's liveness key had expired; writing its memberships back");
                        self.resync().await;
                    } else if self.needs_resync.load(Ordering::Relaxed) {
                        self.resync().await;
                    }
                }
                Err(e) => {
                    self.unhealthy("liveness", &e);
                    continue;
                }
            }
            if let Err(e) = self.sweep().await {
                self.unhealthy("sweep", &e);
            }
        }
    }

    async fn sweep(&self) -> Result<(), ::redis::RedisError> {
        let nodes: Vec<String> = self.conn.clone().smembers(&self.keys.nodes).await?;
        for node in nodes.iter().filter(|n| **n != self.node) {
            let Some(gone) = self.reap(node).await? else {
                continue;
            };
            self.counters
                .dead_nodes_cleaned
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(dead = %node, members = gone.len(), "a node stopped refreshing its liveness; removed its members");
            if let Some(local) = self.local() {
                for (room, identity) in gone {
                    local.presence(&room, &identity, false);
                }
            }
        }
        Ok(())
    }

    /// Write this node's memberships back (after a reconnect, a Redis restart or having been
    /// presumed dead) and remove those Redis has that this node no longer holds. Presence goes
    /// online for members that had been reaped, unless Redis restarted (then nobody saw them
    /// go offline).
    async fn resync(&self) {
        let _exclusive = self.membership.write().await;
        let result: Result<(), ::redis::RedisError> = async {
            let run_id = self.server_run_id().await?;
            let restarted = lock(&self.run_id).replace(run_id.clone()) != Some(run_id);
            self.refresh().await?;
            if let Some(local) = self.local() {
                let mut pipe = ::redis::pipe();
                pipe.atomic().del(&self.keys.online).ignore();
                let online = local.online();
                if !online.is_empty() {
                    pipe.sadd(&self.keys.online, online).ignore();
                }
                pipe.query_async::<()>(&mut self.conn.clone()).await?;
            }
            let held = lock(&self.held).clone();
            for (room, identity) in &held {
                let (first, _, _) = self.join_script(room, identity).await?;
                if first == 1
                    && !restarted
                    && let Some(local) = self.local()
                {
                    local.presence(room, identity, true);
                }
            }
            let stored: Vec<String> = self
                .conn
                .clone()
                .smembers(node_key(&self.config.prefix, &self.node))
                .await?;
            for entry in stored {
                let Some((room, identity)) = split_entry(&entry) else {
                    continue;
                };
                if held.contains(&(room.to_owned(), identity.to_owned())) {
                    continue;
                }
                let left = self.leave_script(room, identity).await?;
                if left == 1
                    && let Some(local) = self.local()
                {
                    local.presence(room, identity, false);
                }
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                self.needs_resync.store(false, Ordering::Relaxed);
                self.counters.resyncs.fetch_add(1, Ordering::Relaxed);
                tracing::info!(node = %self.node, "memberships written back to Redis");
            }
            Err(e) => {
                self.needs_resync.store(true, Ordering::Relaxed);
                self.unhealthy("resync", &e);
            }
        }
    }
}
