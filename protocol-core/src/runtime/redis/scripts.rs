//! The Lua scripts a Redis broker runs, loaded from the `.lua` files beside this one: the
//! membership scripts (join, leave, reap) and the room stream scripts (append, read).

use ::redis::Script;

/// A `(room, identity)` entry in a node's set: the room's length first, so any room name works.
const ENTRY_LUA: &str = include_str!("membership_lib.lua");

/// ARGV: prefix, node, room, identity. Returns {first on any node (0/1), members, version}.
/// `{prefix}:version` orders joins, so a presence change can be ordered against a later join
/// on another node: it grows by one per join and is never below Redis's clock in
/// microseconds, so it keeps growing across a Redis restart that lost it.
const JOIN_LUA: &str = include_str!("membership_join.lua");

/// ARGV: prefix, node, room, identity. Returns 1 when the identity left the room on all nodes.
const LEAVE_LUA: &str = include_str!("membership_leave.lua");

/// ARGV: prefix, dead node. Returns nil if the node is alive (checked here, atomically with
/// the cleanup, so a node that just came back keeps what it wrote); else the room and identity
/// of every member that is now gone from its room, flattened.
const REAP_LUA: &str = include_str!("membership_reap.lua");

/// The stream scripts' shared functions and the keys' layout.
const STREAM_LIB_LUA: &str = include_str!("stream_lib.lua");
/// One append: offset, store, trim, expiry and publication in one step.
const STREAM_APPEND_LUA: &str = include_str!("stream_append.lua");
/// One read: epoch, bounds and entries consistent with each other, then this node's fence.
const STREAM_READ_LUA: &str = include_str!("stream_read.lua");

/// Every script, each with its library in front.
pub(super) struct Scripts {
    pub(super) join: Script,
    pub(super) leave: Script,
    pub(super) reap: Script,
    pub(super) append: Script,
    pub(super) read: Script,
}

impl Scripts {
    pub(super) fn new() -> Self {
        let script = |body: &str| Script::new(&format!("{ENTRY_LUA}{body}"));
        let stream = |body: &str| Script::new(&format!("{STREAM_LIB_LUA}{body}"));
        Scripts {
            join: script(JOIN_LUA),
            leave: script(LEAVE_LUA),
            reap: script(REAP_LUA),
            append: stream(STREAM_APPEND_LUA),
            read: stream(STREAM_READ_LUA),
        }
    }
}
