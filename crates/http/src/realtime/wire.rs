//! The relay's two wire concerns, kept apart from its connection logic
//! ([`super::relay`]):
//!
//! - [`Payload`]: the arguments of an event or acknowledgement, all of
//!   them, with binary attachments anywhere inside. On the upstream side
//!   an attachment is the Socket.IO placeholder `{"_placeholder":true,
//!   "num":i}` in the JSON plus the `i`-th binary frame; on the client
//!   side socketioxide's parser turns the same placeholders into bytes
//!   (and back), which [`Payload`]'s serde impls map to and from the
//!   placeholder form. So a payload crosses the relay unchanged.
//! - [`Packet`] / [`encode`]: the Socket.IO v5 packets of the upstream
//!   connection (`42` events, `43` acks, `45n-` / `46n-` their binary
//!   forms, each with an optional ack id), parsed and written here.

use std::fmt;

use bytes::Bytes;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, SerializeTuple, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Most binary attachments one packet may carry (either direction).
pub const MAX_ATTACHMENTS: usize = 16;

/// All the arguments of an event or acknowledgement; binary attachments
/// are placeholders in `args`, numbered into `bins`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    /// The arguments (an event's name is not among them).
    pub args: Vec<Value>,
    /// The binary attachments, by placeholder number.
    pub bins: Vec<Bytes>,
}

impl Payload {
    /// Arguments without attachments.
    pub fn json(args: Vec<Value>) -> Self {
        Self {
            args,
            bins: Vec::new(),
        }
    }
}

/// The Socket.IO placeholder of attachment `num`.
fn placeholder(num: usize) -> Value {
    json!({"_placeholder": true, "num": num})
}

/// The attachment number of a placeholder object, if `map` is one.
fn placeholder_num(map: &Map<String, Value>) -> Option<usize> {
    if map.len() != 2 || map.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    map.get("num")
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
}

/// A value whose placeholders are serialized as their bytes.
struct WithBins<'a>(&'a Value, &'a [Bytes]);

impl Serialize for WithBins<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Object(map) => {
                if let Some(bin) = placeholder_num(map).and_then(|n| self.1.get(n)) {
                    return s.serialize_bytes(bin);
                }
                let mut m = s.serialize_map(Some(map.len()))?;
                for (k, v) in map {
                    m.serialize_entry(k, &WithBins(v, self.1))?;
                }
                m.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for v in items {
                    seq.serialize_element(&WithBins(v, self.1))?;
                }
                seq.end()
            }
            other => other.serialize(s),
        }
    }
}

/// Serialized as a tuple, so socketioxide emits the arguments as separate
/// arguments, with the attachments as binary.
impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(self.args.len())?;
        for v in &self.args {
            t.serialize_element(&WithBins(v, &self.bins))?;
        }
        t.end()
    }
}

/// One value, its bytes collected into `bins` as placeholders.
struct ValueSeed<'a> {
    bins: &'a mut Vec<Bytes>,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value or binary data")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Value, E> {
        self.visit_byte_buf(v.to_vec())
    }
    fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Value, E> {
        if self.bins.len() >= MAX_ATTACHMENTS {
            return Err(E::custom("too many binary attachments"));
        }
        self.bins.push(Bytes::from(v));
        Ok(placeholder(self.bins.len() - 1))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(ValueSeed {
            bins: &mut *self.bins,
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let v = map.next_value_seed(ValueSeed {
                bins: &mut *self.bins,
            })?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

/// Deserialized from all the arguments of a received event or ack (as a
/// tuple: socketioxide then hands over every argument, not the first).
impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct All;
        impl<'de> Visitor<'de> for All {
            type Value = Payload;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("event arguments")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Payload, A::Error> {
                let mut p = Payload::default();
                while let Some(v) = seq.next_element_seed(ValueSeed { bins: &mut p.bins })? {
                    p.args.push(v);
                }
                Ok(p)
            }
        }
        d.deserialize_tuple(usize::MAX, All)
    }
}

/// What an upstream text frame is.
#[derive(Debug, PartialEq)]
pub enum Packet {
    /// Engine.IO ping `2`.
    Ping,
    /// Engine.IO close `1`.
    Close,
    /// Socket.IO disconnect `41` (or a connect error `44`) on `/`.
    Disconnect,
    /// An event `42[name, ...args]` (or `45n-`) on `/`, with its ack id.
    Event {
        /// The event's name.
        name: String,
        /// Its arguments; `attachments` binary frames follow.
        args: Vec<Value>,
        /// The ack id the sender waits on.
        id: Option<u64>,
        /// Binary frames that follow this packet.
        attachments: usize,
    },
    /// An acknowledgement `43id[...]` (or `46n-id[...]`) on `/`.
    Ack {
        /// The ack id it answers.
        id: u64,
        /// Its arguments.
        args: Vec<Value>,
        /// Binary frames that follow this packet.
        attachments: usize,
    },
    /// Anything else (noop, other namespaces, malformed packets).
    Other,
}

/// Parses an upstream text frame.
pub fn packet(text: &str) -> Packet {
    match text {
        "2" => return Packet::Ping,
        "1" => return Packet::Close,
        _ => {}
    }
    let Some(sio) = text.strip_prefix('4') else {
        return Packet::Other;
    };
    let mut chars = sio.chars();
    let kind = chars.next();
    let mut rest = chars.as_str();
    let mut attachments = 0;
    if matches!(kind, Some('5' | '6')) {
        let Some((n, r)) = rest.split_once('-') else {
            return Packet::Other;
        };
        match n.parse::<usize>() {
            Ok(n) if n <= MAX_ATTACHMENTS => attachments = n,
            _ => return Packet::Other,
        }
        rest = r;
    }
    // An optional namespace (`/name,`): only `/` is relayed.
    if rest.starts_with('/') {
        match rest.split_once(',') {
            Some(("/", r)) => rest = r,
            _ => return Packet::Other,
        }
    }
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (id, json) = rest.split_at(digits);
    let id = if id.is_empty() {
        None
    } else {
        match id.parse::<u64>() {
            Ok(id) => Some(id),
            Err(_) => return Packet::Other,
        }
    };
    match kind {
        Some('1' | '4') => Packet::Disconnect,
        Some('2' | '5') => {
            let Ok(Value::Array(items)) = serde_json::from_str::<Value>(json) else {
                return Packet::Other;
            };
            let mut items = items.into_iter();
            match items.next() {
                Some(Value::String(name)) => Packet::Event {
                    name,
                    args: items.collect(),
                    id,
                    attachments,
                },
                _ => Packet::Other,
            }
        }
        Some('3' | '6') => {
            let (Some(id), Ok(Value::Array(args))) = (id, serde_json::from_str::<Value>(json))
            else {
                return Packet::Other;
            };
            Packet::Ack {
                id,
                args,
                attachments,
            }
        }
        _ => Packet::Other,
    }
}

/// The text frame of an event (`event` is `Some`) or an ack, with its ack
/// id; `attachments` binary frames must follow it.
pub fn encode(event: Option<&str>, id: Option<u64>, args: &[Value], attachments: usize) -> String {
    let mut all = Vec::with_capacity(args.len().saturating_add(1));
    if let Some(name) = event {
        all.push(Value::String(name.to_owned()));
    }
    all.extend(args.iter().cloned());
    let kind = match (event.is_some(), attachments > 0) {
        (true, false) => "2".to_owned(),
        (false, false) => "3".to_owned(),
        (true, true) => format!("5{attachments}-"),
        (false, true) => format!("6{attachments}-"),
    };
    let id = id.map(|i| i.to_string()).unwrap_or_default();
    format!("4{kind}{id}{}", Value::Array(all))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_upstream_frames() {
        assert_eq!(packet("2"), Packet::Ping);
        assert_eq!(packet("1"), Packet::Close);
        assert_eq!(packet("6"), Packet::Other);
        assert_eq!(packet("41"), Packet::Disconnect);
        assert_eq!(packet("44{\"message\":\"no\"}"), Packet::Disconnect);
        let ev = |name: &str, args: Vec<Value>, id, attachments| Packet::Event {
            name: name.into(),
            args,
            id,
            attachments,
        };
        assert_eq!(
            packet(r#"42["queue",{"n":1},2]"#),
            ev("queue", vec![json!({"n": 1}), json!(2)], None, 0)
        );
        assert_eq!(packet(r#"42/,["e"]"#), ev("e", vec![], None, 0));
        assert_eq!(
            packet(r#"4212["e","x"]"#),
            ev("e", vec![json!("x")], Some(12), 0)
        );
        assert_eq!(
            packet(r#"451-7["b",{"_placeholder":true,"num":0}]"#),
            ev("b", vec![placeholder(0)], Some(7), 1)
        );
        assert_eq!(
            packet(r#"4/,3["pong"]"#.replace("4/,3", "43/,3").as_str()),
            Packet::Ack {
                id: 3,
                args: vec![json!("pong")],
                attachments: 0
            }
        );
        assert_eq!(
            packet(r#"462-9[{"_placeholder":true,"num":0},1]"#),
            Packet::Ack {
                id: 9,
                args: vec![placeholder(0), json!(1)],
                attachments: 2
            }
        );
        assert_eq!(packet(r#"43["no id"]"#), Packet::Other);
        assert_eq!(packet(r#"4599-["e"]"#), Packet::Other, "attachments capped");
        assert_eq!(packet(r#"42/admin,["e"]"#), Packet::Other);
        assert_eq!(packet(r#"42[1,2]"#), Packet::Other);
        assert_eq!(packet(r#"42not json"#), Packet::Other);
    }

    #[test]
    fn encodes_events_and_acks_with_ids_and_attachments() {
        assert_eq!(encode(Some("a"), None, &[], 0), r#"42["a"]"#);
        assert_eq!(
            encode(Some("login"), None, &[json!({"accessKeyId": "bob"})], 0),
            r#"42["login",{"accessKeyId":"bob"}]"#
        );
        assert_eq!(encode(Some("ping"), Some(4), &[], 0), r#"424["ping"]"#);
        assert_eq!(encode(None, Some(4), &[json!("pong")], 0), r#"434["pong"]"#);
        assert_eq!(
            encode(Some("b"), None, &[placeholder(0)], 1),
            r#"451-["b",{"_placeholder":true,"num":0}]"#
        );
        assert_eq!(
            encode(None, Some(2), &[placeholder(0)], 1),
            r#"461-2[{"_placeholder":true,"num":0}]"#
        );
    }

    #[test]
    fn a_payload_serializes_placeholders_as_bytes_and_reads_bytes_as_placeholders() {
        let p = Payload {
            args: vec![
                json!({"file": placeholder(0), "n": 1}),
                json!([placeholder(1)]),
            ],
            bins: vec![Bytes::from_static(b"\x00\x01"), Bytes::from_static(b"z")],
        };
        // serde_json writes bytes as arrays of numbers: where they went.
        assert_eq!(
            serde_json::to_value(&p).unwrap_or_default(),
            json!([{"file": [0, 1], "n": 1}, [[122]]])
        );
        let back: Payload = serde_json::from_str(r#"[{"a":[1]},"x",null]"#).unwrap_or_default();
        assert_eq!(
            back,
            Payload::json(vec![json!({"a": [1]}), json!("x"), Value::Null])
        );
        // A deserializer that hands over bytes (socketioxide's, for an
        // attachment) gets placeholders.
        let mut bins = Vec::new();
        let v = ValueSeed { bins: &mut bins }
            .visit_byte_buf::<serde_json::Error>(vec![7])
            .unwrap_or_default();
        assert_eq!(
            (v, bins),
            (placeholder(0), vec![Bytes::from_static(b"\x07")])
        );
    }
}
