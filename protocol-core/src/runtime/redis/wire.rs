//! What nodes write for each other: the binary publications and fences on the pub/sub channel,
//! the `(room, identity)` entries of a node's set, and the names of the channel and the keys.

use std::sync::Arc;

use tokio_tungstenite::tungstenite::{Bytes, Utf8Bytes};

use crate::runtime::hub::{ConnId, Target};

/// The channel and the keys of one node (the scripts compute the others from the prefix).
pub(super) struct Keys {
    pub(super) channel: String,
    pub(super) nodes: String,
    pub(super) alive: String,
    /// The identities connected to this node.
    pub(super) online: String,
}

impl Keys {
    /// The names for `node` under `prefix`.
    pub(super) fn new(prefix: &str, node: &str) -> Self {
        Keys {
            channel: format!("{prefix}:bus"),
            nodes: format!("{prefix}:nodes"),
            alive: format!("{prefix}:alive:{node}"),
            online: online_key(prefix, node),
        }
    }
}

/// `{prefix}:online:{node}`: the identities connected to `node`.
pub(super) fn online_key(prefix: &str, node: &str) -> String {
    format!("{prefix}:online:{node}")
}

/// `{prefix}:node:{node}`: the `(room, identity)` entries `node` holds.
pub(super) fn node_key(prefix: &str, node: &str) -> String {
    format!("{prefix}:node:{node}")
}

/// `{prefix}:room:{room}`: the room's members, `identity -> number of nodes holding it`.
pub(super) fn room_key(prefix: &str, room: &str) -> String {
    format!("{prefix}:room:{room}")
}

/// `{prefix}:smeta:{room}` and `{prefix}:stream:{room}`: a room stream's meta and entries.
pub(super) fn stream_keys(prefix: &str, room: &str) -> [String; 2] {
    [
        format!("{prefix}:smeta:{room}"),
        format!("{prefix}:stream:{room}"),
    ]
}

/// The inverse of the scripts' `entry(room, id)`.
pub(super) fn split_entry(entry: &str) -> Option<(&str, &str)> {
    let (len, rest) = entry.split_once(':')?;
    let len: usize = len.parse().ok()?;
    (rest.is_char_boundary(len) && len <= rest.len()).then(|| rest.split_at(len))
}

/// Publication kinds on the wire.
const KIND_IDENTITY: u8 = 1;
const KIND_ROOM: u8 = 2;
const KIND_ROOM_EXCEPT_IDENTITY: u8 = 3;
const KIND_ALL: u8 = 4;
pub(super) const KIND_STREAM: u8 = 5;
/// A stream read's marker, published by the read script after the read: once its node
/// receives it, every message appended before the read has been delivered there.
const KIND_FENCE: u8 = 6;
const MAGIC: &[u8; 2] = b"P1";
/// The sequence number of the append script's publications: they are ordered by their offset,
/// not by a node's sequence (which starts at 1), and the origin node delivers them too.
pub(super) const STREAM_SEQ: u64 = 0;
/// Bytes before the kind: magic, node, sequence.
const KIND_AT: usize = 2 + 8 + 8;

/// `P1`, origin node (u64 LE), sequence (u64 LE), kind (u8), membership version (u64 LE),
/// two length-prefixed (u32 LE) strings (room or identity, identity or empty), then the frame.
/// A stream message has the offset in the version's place and the connection left out (on
/// the origin node) in decimal as the second string, or an empty one.
pub(super) fn encode_publication(
    node: u64,
    seq: u64,
    target: &Target,
    frame: &[u8],
) -> Option<Vec<u8>> {
    let except;
    let (kind, a, b, version): (u8, &str, &str, u64) = match target {
        Target::Conn(_) => return None,
        Target::Identity(identity) => (KIND_IDENTITY, identity, "", 0),
        Target::Room { room, .. } => (KIND_ROOM, room, "", 0),
        Target::RoomExceptIdentity {
            room,
            identity,
            version,
        } => (KIND_ROOM_EXCEPT_IDENTITY, room, identity, *version),
        Target::All => (KIND_ALL, "", "", 0),
        Target::Stream {
            room,
            except: left_out,
            offset,
        } => {
            except = left_out.map(|c| c.0.to_string()).unwrap_or_default();
            (KIND_STREAM, room, except.as_str(), *offset)
        }
    };
    let (head, tail) = publication_parts(node, seq, kind, a, b)?;
    let mut out = Vec::with_capacity(head.len() + 8 + tail.len() + frame.len());
    out.extend_from_slice(&head);
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&tail);
    out.extend_from_slice(frame);
    Some(out)
}

/// A publication without its version and frame: what comes before the version (magic, node,
/// sequence, kind) and what comes between it and the frame (the two strings). The append
/// script puts them around the offset it assigns.
pub(super) fn publication_parts(
    node: u64,
    seq: u64,
    kind: u8,
    a: &str,
    b: &str,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut head = Vec::with_capacity(KIND_AT + 1);
    head.extend_from_slice(MAGIC);
    head.extend_from_slice(&node.to_le_bytes());
    head.extend_from_slice(&seq.to_le_bytes());
    head.push(kind);
    let mut tail = Vec::with_capacity(8 + a.len() + b.len());
    for s in [a, b] {
        tail.extend_from_slice(&u32::try_from(s.len()).ok()?.to_le_bytes());
        tail.extend_from_slice(s.as_bytes());
    }
    Some((head, tail))
}

/// A fence of `node` with `token` (in the sequence's place).
pub(super) fn encode_fence(node: u64, token: u64) -> Vec<u8> {
    let (head, tail) = publication_parts(node, token, KIND_FENCE, "", "").unwrap_or_default();
    [head.as_slice(), &0u64.to_le_bytes(), &tail].concat()
}

/// `(node, token)` when the payload is a fence.
pub(super) fn decode_fence(payload: &[u8]) -> Option<(u64, u64)> {
    let rest = payload.strip_prefix(MAGIC)?;
    let (node, rest) = rest.split_first_chunk::<8>()?;
    let (token, rest) = rest.split_first_chunk::<8>()?;
    (rest.first() == Some(&KIND_FENCE))
        .then(|| (u64::from_le_bytes(*node), u64::from_le_bytes(*token)))
}

/// A publication read back.
#[derive(Debug, PartialEq)]
pub(super) struct Publication {
    pub(super) node: u64,
    pub(super) seq: u64,
    pub(super) target: Target,
    pub(super) frame: Utf8Bytes,
}

pub(super) fn decode_publication(payload: &[u8]) -> Option<Publication> {
    let rest = payload.strip_prefix(MAGIC)?;
    let (node, rest) = rest.split_first_chunk::<8>()?;
    let (seq, rest) = rest.split_first_chunk::<8>()?;
    let (&kind, rest) = rest.split_first()?;
    let (version, mut rest) = rest.split_first_chunk::<8>()?;
    let mut strings = [String::new(), String::new()];
    for s in &mut strings {
        let (len, after) = rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
        let bytes = after.get(..len)?;
        *s = std::str::from_utf8(bytes).ok()?.to_owned();
        rest = &after[len..];
    }
    let [a, b] = strings;
    let target = match kind {
        KIND_IDENTITY => Target::Identity(Arc::from(a)),
        KIND_ROOM => Target::Room {
            room: Arc::from(a),
            except: None,
        },
        KIND_ROOM_EXCEPT_IDENTITY => Target::RoomExceptIdentity {
            room: Arc::from(a),
            identity: Arc::from(b),
            version: u64::from_le_bytes(*version),
        },
        KIND_ALL => Target::All,
        KIND_STREAM => Target::Stream {
            room: Arc::from(a),
            except: if b.is_empty() {
                None
            } else {
                Some(ConnId(b.parse().ok()?))
            },
            offset: u64::from_le_bytes(*version),
        },
        _ => return None,
    };
    let frame = Utf8Bytes::try_from(Bytes::copy_from_slice(rest)).ok()?;
    Some(Publication {
        node: u64::from_le_bytes(*node),
        seq: u64::from_le_bytes(*seq),
        target,
        frame,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publications_round_trip() {
        let targets = [
            Target::Identity(Arc::from("alice")),
            Target::Room {
                room: Arc::from("ro:om\n"),
                except: None,
            },
            Target::RoomExceptIdentity {
                room: Arc::from("général"),
                identity: Arc::from("bob"),
                version: 12,
            },
            Target::All,
            Target::Stream {
                room: Arc::from("r:1"),
                except: Some(ConnId(42)),
                offset: 1 << 40,
            },
            Target::Stream {
                room: Arc::from(""),
                except: None,
                offset: 1,
            },
        ];
        for (i, target) in targets.into_iter().enumerate() {
            let frame = r#"{"type":"x","t":"ünï"}"#;
            let bytes = encode_publication(7, i as u64, &target, frame.as_bytes()).unwrap();
            let back = decode_publication(&bytes).unwrap();
            assert_eq!(
                back,
                Publication {
                    node: 7,
                    seq: i as u64,
                    target,
                    frame: Utf8Bytes::from(frame),
                }
            );
        }
        assert!(encode_publication(1, 1, &Target::Conn(ConnId(3)), b"{}").is_none());
    }

    #[test]
    fn fences_are_told_apart_from_publications() {
        let fence = encode_fence(7, 99);
        assert_eq!(decode_fence(&fence), Some((7, 99)));
        assert!(decode_publication(&fence).is_none());
        let publication = encode_publication(7, 99, &Target::All, b"{}").unwrap();
        assert_eq!(decode_fence(&publication), None);
        assert_eq!(decode_fence(&fence[..KIND_AT]), None);
    }

    #[test]
    fn malformed_publications_are_refused() {
        let good = encode_publication(1, 2, &Target::All, b"{}").unwrap();
        for cut in 0..good.len() - 2 {
            assert!(decode_publication(&good[..cut]).is_none(), "cut at {cut}");
        }
        let mut bad_kind = good.clone();
        bad_kind[KIND_AT] = 9;
        assert!(decode_publication(&bad_kind).is_none());
        let mut bad_utf8 = good;
        bad_utf8.push(0xff);
        assert!(decode_publication(&bad_utf8).is_none());
    }

    #[test]
    fn entries_split_like_the_scripts_build_them() {
        assert_eq!(split_entry("5:ro:mbob"), Some(("ro:mb", "ob")));
        assert_eq!(split_entry("4:roombob"), Some(("room", "bob")));
        assert_eq!(split_entry("x:room"), None);
        assert_eq!(split_entry("9:room"), None);
    }
}
