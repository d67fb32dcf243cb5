//! The bytes a link hashes, and the Merkle tree over the chain heads.
//!
//! A link's hash is `SHA-256(TAG ‖ 0x00 ‖ 2 ‖ previous hash ‖ row id ‖ content)` (its
//! format, [`LINK_FORMAT`], stored with the link; links sealed before the format was
//! stored are format 1: `SHA-256(TAG ‖ 0x00 ‖ 1 ‖ previous hash ‖ content)`, without the
//! row's id, which then could be swapped between two rows and their links unseen), where
//! the row id is 8 bytes big-endian and the content is the row's other stored columns as
//! canonical JSON: object keys sorted by their bytes, no whitespace, strings
//! escaped as `serde_json` escapes them, numbers exactly as stored (an integer is printed
//! in full, never through a float), times as RFC 3339 UTC at microseconds, the stored
//! precision. The first link of a chain follows [`GENESIS`].
//!
//! The values of a version's `data` and of an entry's `changes` enter the content as one
//! salted commitment per field, `SHA-256(TAG ‖ "/field" ‖ 0x00 ‖ FORMAT ‖ salt ‖ len ‖
//! field ‖ canonical value)`, so that erasing a value (for a data-protection request)
//! can leave its commitment in its place and the chain still verifies. Each link keeps a
//! random 32-byte secret from which every field's salt derives; erasing destroys it and
//! keeps the salts of the fields that stay, so an erased value cannot be confirmed by
//! guessing.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};

use crate::api::column_json;
use crate::entity::{activity_log, versions};

/// The domain-separation tag of every hash of the chains.
pub(crate) const TAG: &[u8] = b"audit-seaorm/chain";
/// The format of a field's commitment, a checkpoint's leaf and its signed message; a new
/// format gets a new number.
pub(crate) const FORMAT: u8 = 1;
/// The format of the links [`crate::seal`] makes: their hash covers the row's id too.
/// Format 1 (links sealed before each link stored its format) covers the content alone.
pub(crate) const LINK_FORMAT: i16 = 2;
/// The hash a chain's first link follows.
pub(crate) const GENESIS: [u8; 32] = [0; 32];

/// A SHA-256 hash.
pub(crate) type Hash = [u8; 32];

/// Which table a chain is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    Log = 1,
    Versions = 2,
}

impl Kind {
    pub(crate) const ALL: [Kind; 2] = [Kind::Versions, Kind::Log];

    pub(crate) fn code(self) -> i16 {
        self as i16
    }

    pub(crate) fn from_code(code: i16) -> Option<Kind> {
        match code {
            1 => Some(Kind::Log),
            2 => Some(Kind::Versions),
            _ => None,
        }
    }

    /// The table's role (not its configured name, which may change).
    pub(crate) fn table(self) -> &'static str {
        match self {
            Kind::Log => "activity_log",
            Kind::Versions => "versions",
        }
    }
}

/// The hash of a link of `format`: the row `row_id`'s `content` after `prev` (`None`: a
/// format this version does not know).
pub(crate) fn link(format: i16, prev: &Hash, row_id: i64, content: &[u8]) -> Option<Hash> {
    match format {
        1 => {
            let mut h = Sha256::new();
            h.update(TAG);
            h.update([0, 1]);
            h.update(prev);
            h.update(content);
            Some(h.finalize().into())
        }
        LINK_FORMAT => Some(new_link(prev, row_id, content)),
        _ => None,
    }
}

/// The hash of a link [`crate::seal`] makes ([`LINK_FORMAT`]): the row `row_id`'s
/// `content` after `prev`.
pub(crate) fn new_link(prev: &Hash, row_id: i64, content: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(TAG);
    h.update([0, LINK_FORMAT as u8]);
    h.update(prev);
    h.update(row_id.to_be_bytes());
    h.update(content);
    h.finalize().into()
}

/// Hex of a hash.
pub(crate) fn to_hex(hash: &Hash) -> String {
    const_hex::encode(hash)
}

/// A hash from its hex (`None`: not 64 hex digits).
pub(crate) fn from_hex(text: &str) -> Option<Hash> {
    // Exactly the 64 digits: the decoder would also take a `0x` in front.
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    const_hex::decode_to_slice(text, &mut out).ok()?;
    Some(out)
}

/// The salts of one row's fields, and the commitments of its erased fields.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Salts {
    /// The row's secret, from which each field's salt derives (until an erasure).
    secret: Option<Hash>,
    /// After an erasure: the salts of the fields that stay.
    kept: BTreeMap<String, Hash>,
    /// After an erasure: the commitments of the erased fields.
    erased: BTreeMap<String, Hash>,
}

impl Salts {
    /// A new row's salts.
    pub(crate) fn fresh(secret: Hash) -> Self {
        Self {
            secret: Some(secret),
            ..Self::default()
        }
    }

    /// The salts a link stores: its `salt` and `erased` columns (`None`: malformed).
    pub(crate) fn stored(salt: Option<&str>, erased: Option<&Json>) -> Option<Self> {
        let secret = match salt {
            Some(s) => Some(from_hex(s)?),
            None => None,
        };
        let mut out = Self {
            secret,
            ..Self::default()
        };
        if let Some(e) = erased {
            let e = stored_json(e);
            for (key, target) in [("kept", &mut out.kept), ("erased", &mut out.erased)] {
                for (field, h) in e.get(key)?.as_object()? {
                    target.insert(field.clone(), from_hex(h.as_str()?)?);
                }
            }
        }
        Some(out)
    }

    /// The link's `salt` column.
    pub(crate) fn secret_hex(&self) -> Option<String> {
        self.secret.as_ref().map(to_hex)
    }

    /// The link's `erased` column.
    pub(crate) fn erased_json(&self) -> Option<Json> {
        if self.kept.is_empty() && self.erased.is_empty() {
            return None;
        }
        let hex_map = |m: &BTreeMap<String, Hash>| {
            Json::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), Json::String(to_hex(v))))
                    .collect(),
            )
        };
        Some(serde_json::json!({"kept": hex_map(&self.kept), "erased": hex_map(&self.erased)}))
    }

    fn salt(&self, field: &str) -> Option<Hash> {
        if let Some(s) = self.kept.get(field) {
            return Some(*s);
        }
        let secret = self.secret?;
        let mut h = Sha256::new();
        h.update(TAG);
        h.update(b"/salt\0");
        h.update(secret);
        h.update(field.as_bytes());
        Some(h.finalize().into())
    }

    /// These salts with `fields` of `row` erased: their commitments kept, the secret
    /// replaced by the salts of the fields that stay. `None` when a field has no salt.
    pub(crate) fn erase(&self, row: &Row, fields: &[&str]) -> Option<Self> {
        let mut out = Self {
            secret: None,
            kept: self.kept.clone(),
            erased: self.erased.clone(),
        };
        for (field, value) in &row.fields() {
            if out.erased.contains_key(field) {
                continue;
            }
            let salt = self.salt(field)?;
            if fields.contains(&field.as_str()) {
                out.kept.remove(field);
                out.erased
                    .insert(field.clone(), commitment(&salt, field, value));
            } else {
                out.kept.insert(field.clone(), salt);
            }
        }
        Some(out)
    }
}

fn commitment(salt: &Hash, field: &str, value: &Json) -> Hash {
    let mut h = Sha256::new();
    h.update(TAG);
    h.update(b"/field\0");
    h.update([FORMAT]);
    h.update(salt);
    h.update((field.len() as u64).to_be_bytes());
    h.update(field.as_bytes());
    let mut bytes = Vec::with_capacity(64);
    canonical(value, &mut bytes);
    h.update(&bytes);
    h.finalize().into()
}

/// What an erased value reads in an entry's `changes`.
pub(crate) const ERASED: &str = "[erased]";

/// Whether an entry's change of an erased field holds no value any more: only `old` and
/// `new`, each null or a marker (nothing else may ride on an erased field's commitment).
pub(crate) fn scrubbed_change(change: &Json) -> bool {
    let blank = |v: &Json| match v {
        Json::Null => true,
        Json::String(s) => s == ERASED || s == audit_core::REDACTED,
        _ => false,
    };
    change.as_object().is_some_and(|c| {
        c.iter()
            .all(|(k, v)| (k == "old" || k == "new") && blank(v))
    })
}

/// A row of either table, as read back for sealing and verifying.
#[derive(Clone, Debug)]
pub(crate) enum Row {
    Log(activity_log::Model),
    Versions(versions::Model),
}

impl Row {
    pub(crate) fn id(&self) -> i64 {
        match self {
            Row::Log(r) => r.id,
            Row::Versions(r) => r.id,
        }
    }

    pub(crate) fn subject(&self) -> (&str, &str) {
        match self {
            Row::Log(r) => (&r.subject_type, &r.subject_id),
            Row::Versions(r) => (&r.subject_type, &r.subject_id),
        }
    }

    pub(crate) fn created_at(&self) -> DateTime<Utc> {
        match self {
            Row::Log(r) => r.created_at,
            Row::Versions(r) => r.created_at,
        }
    }

    /// The fields whose values enter as commitments: a version's `data`, an entry's
    /// `changes`.
    pub(crate) fn fields(&self) -> Map<String, Json> {
        let map = match self {
            Row::Log(r) => &r.changes,
            Row::Versions(r) => &r.data,
        };
        match stored_json(map) {
            Json::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// The row's content, borrowed.
    pub(crate) fn view(&self) -> Content<'_> {
        match self {
            Row::Log(r) => Content::Log {
                action: &r.action,
                causer_id: r.causer_id.as_deref(),
                changes: &r.changes,
                created_at: r.created_at,
                ip: r.ip.as_deref(),
                properties: r.properties.as_ref(),
                request_id: r.request_id.as_deref(),
                subject_id: &r.subject_id,
                subject_type: &r.subject_type,
                user_agent: r.user_agent.as_deref(),
                version_id: r.version_id,
            },
            Row::Versions(r) => Content::Versions {
                causer_id: r.causer_id.as_deref(),
                created_at: r.created_at,
                data: &r.data,
                event: &r.event,
                subject_id: &r.subject_id,
                subject_type: &r.subject_type,
                version: r.version,
            },
        }
    }

    /// The canonical bytes of the row's content with `salts` (see [`Content::bytes`]).
    pub(crate) fn content(&self, salts: &Salts) -> Option<Vec<u8>> {
        self.view().bytes(salts)
    }
}

/// What a row's hash covers: its columns but the id, borrowed (from a [`Row`], or from a
/// driver's row where `verify` checks one without copying it out).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Content<'a> {
    Log {
        action: &'a str,
        causer_id: Option<&'a str>,
        changes: &'a Json,
        created_at: DateTime<Utc>,
        ip: Option<&'a str>,
        properties: Option<&'a Json>,
        request_id: Option<&'a str>,
        subject_id: &'a str,
        subject_type: &'a str,
        user_agent: Option<&'a str>,
        version_id: Option<i64>,
    },
    Versions {
        causer_id: Option<&'a str>,
        created_at: DateTime<Utc>,
        data: &'a Json,
        event: &'a str,
        subject_id: &'a str,
        subject_type: &'a str,
        version: i64,
    },
}

impl Content<'_> {
    /// Writes the committed fields: each field's commitment, erased ones from `salts`
    /// (`None` when an erased field still holds a value, or a field has no salt).
    fn write_committed(&self, value: &Json, salts: &Salts, out: &mut Vec<u8>) -> Option<()> {
        let value = column_json(value);
        let Json::Object(map) = value.as_ref() else {
            // Not an object (never written so): hashed as it is.
            canonical(value.as_ref(), out);
            return Some(());
        };
        let log = matches!(self, Content::Log { .. });
        let mut fields: Vec<(&str, Hash)> = Vec::with_capacity(map.len() + salts.erased.len());
        for (field, v) in map {
            let c = match salts.erased.get(field) {
                Some(c) if log && scrubbed_change(v) => *c,
                Some(_) => return None,
                None => commitment(&salts.salt(field)?, field, v),
            };
            fields.push((field, c));
        }
        for (field, c) in &salts.erased {
            // An erased field left the snapshot. An entry keeps its scrubbed change (an
            // erasure only touches the fields a row holds): one gone was removed since.
            if !map.contains_key(field) {
                if log {
                    return None;
                }
                fields.push((field, *c));
            }
        }
        fields.sort_unstable_by(|a, b| a.0.cmp(b.0));
        out.push(b'{');
        for (i, (field, c)) in fields.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            string(field, out);
            out.push(b':');
            hex_string(c, out);
        }
        out.push(b'}');
        Some(())
    }

    /// The canonical bytes of the row's content with `salts` (`None`: an erased field
    /// holds a value again, or a field has no salt): the canonical JSON of an object of
    /// the row's columns, written key by key in their sorted order.
    pub(crate) fn bytes(&self, salts: &Salts) -> Option<Vec<u8>> {
        let mut w = Object::new(512);
        match *self {
            Content::Log {
                action,
                causer_id,
                changes,
                created_at,
                ip,
                properties,
                request_id,
                subject_id,
                subject_type,
                user_agent,
                version_id,
            } => {
                w.text("action", action);
                w.opt("causer_id", causer_id);
                self.write_committed(changes, salts, w.key("changes"))?;
                w.text("created_at", &time(created_at));
                w.opt("ip", ip);
                match properties {
                    Some(p) => canonical(&column_json(p), w.key("properties")),
                    None => w.key("properties").extend_from_slice(b"null"),
                }
                w.opt("request_id", request_id);
                w.text("subject_id", subject_id);
                w.text("subject_type", subject_type);
                w.text("table", Kind::Log.table());
                w.opt("user_agent", user_agent);
                let v = w.key("version_id");
                match version_id {
                    Some(id) => v.extend_from_slice(id.to_string().as_bytes()),
                    None => v.extend_from_slice(b"null"),
                }
            }
            Content::Versions {
                causer_id,
                created_at,
                data,
                event,
                subject_id,
                subject_type,
                version,
            } => {
                w.opt("causer_id", causer_id);
                w.text("created_at", &time(created_at));
                self.write_committed(data, salts, w.key("data"))?;
                w.text("event", event);
                w.text("subject_id", subject_id);
                w.text("subject_type", subject_type);
                w.text("table", Kind::Versions.table());
                w.key("version")
                    .extend_from_slice(version.to_string().as_bytes());
            }
        }
        Some(w.finish())
    }
}

/// A canonical JSON object written key by key; the caller gives the keys in their
/// sorted (byte) order.
struct Object {
    out: Vec<u8>,
    #[cfg(debug_assertions)]
    last: Option<&'static str>,
}

impl Object {
    fn new(capacity: usize) -> Self {
        let mut out = Vec::with_capacity(capacity);
        out.push(b'{');
        Self {
            out,
            #[cfg(debug_assertions)]
            last: None,
        }
    }

    /// Writes `key` and its colon; the value goes into the returned buffer.
    fn key(&mut self, key: &'static str) -> &mut Vec<u8> {
        #[cfg(debug_assertions)]
        {
            debug_assert!(self.last.is_none_or(|l| l < key), "{key} out of order");
            self.last = Some(key);
        }
        if self.out.len() > 1 {
            self.out.push(b',');
        }
        string(key, &mut self.out);
        self.out.push(b':');
        &mut self.out
    }

    fn text(&mut self, key: &'static str, value: &str) {
        string(value, self.key(key));
    }

    fn opt(&mut self, key: &'static str, value: Option<&str>) {
        match value {
            Some(v) => self.text(key, v),
            None => self.key(key).extend_from_slice(b"null"),
        }
    }

    fn finish(mut self) -> Vec<u8> {
        self.out.push(b'}');
        self.out
    }
}

/// Writes a hash as a JSON string of its hex.
fn hex_string(hash: &Hash, out: &mut Vec<u8>) {
    let mut buf = [0u8; 64];
    // 64 bytes is exactly the room 32 bytes of hex take.
    let _ = const_hex::encode_to_slice(hash, &mut buf);
    out.push(b'"');
    out.extend_from_slice(&buf);
    out.push(b'"');
}

/// A JSON column's value, owned.
fn stored_json(value: &Json) -> Json {
    column_json(value).into_owned()
}

/// RFC 3339 in UTC at microseconds, the stored precision.
fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Writes `value` as canonical JSON.
pub(crate) fn canonical(value: &Json, out: &mut Vec<u8>) {
    match value {
        Json::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                string(key, out);
                out.push(b':');
                canonical(&map[key], out);
            }
            out.push(b'}');
        }
        Json::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical(item, out);
            }
            out.push(b']');
        }
        Json::String(s) => string(s, out),
        // Integers in full; floats in their shortest round-trip form.
        Json::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
        Json::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Json::Null => out.extend_from_slice(b"null"),
    }
}

fn string(s: &str, out: &mut Vec<u8>) {
    // Most strings need no escape: written as they are (the scan has no early exit, so
    // that it runs over whole vectors of bytes).
    let plain = s.bytes().fold(true, |plain, b| {
        plain & (b >= 0x20) & (b != b'"') & (b != b'\\')
    });
    if plain {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// A leaf of the checkpoint's Merkle tree: one chain's head.
pub(crate) fn leaf(kind: Kind, subject: (&str, &str), seq: i64, head: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0]);
    h.update(TAG);
    h.update([FORMAT, kind.code() as u8]);
    for part in [subject.0, subject.1] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    h.update(seq.to_be_bytes());
    h.update(head);
    h.finalize().into()
}

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The RFC 6962 Merkle tree hash of leaves pushed in order, in O(log n) memory.
#[derive(Default)]
pub(crate) struct Merkle {
    /// Complete subtrees, largest first: (height, hash).
    stack: Vec<(u32, Hash)>,
    pub(crate) leaves: u64,
}

impl Merkle {
    pub(crate) fn push(&mut self, leaf: Hash) {
        self.leaves += 1;
        let mut cur = (0, leaf);
        while let Some(&(height, left)) = self.stack.last() {
            if height != cur.0 {
                break;
            }
            self.stack.pop();
            cur = (height + 1, node(&left, &cur.1));
        }
        self.stack.push(cur);
    }

    /// The root (of no leaves: SHA-256 of nothing, as in RFC 6962).
    pub(crate) fn root(&self) -> Hash {
        let mut iter = self.stack.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return Sha256::digest([]).into();
        };
        for (_, left) in iter {
            acc = node(left, &acc);
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn text(v: &Json) -> String {
        let mut out = Vec::new();
        canonical(v, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn canonical_json_sorts_keys_and_keeps_numbers_exact() {
        let v =
            json!({"b": [1, 2.5, "x\"y"], "a": {"z": null, "é": true}, "n": 9007199254740993u64});
        assert_eq!(
            text(&v),
            r#"{"a":{"z":null,"é":true},"b":[1,2.5,"x\"y"],"n":9007199254740993}"#
        );
        // 2^53 + 1 and 2^53 must not hash alike.
        assert_ne!(
            text(&json!(9007199254740993u64)),
            text(&json!(9007199254740992u64))
        );
    }

    #[test]
    fn strings_are_written_as_serde_json_escapes_them() {
        let mut cases: Vec<String> = [
            "",
            "plain",
            "é ünïcode ✓",
            "quote\"",
            "back\\slash",
            "tab\t",
            "nl\n",
            "\u{7f}",
            "\u{1f}",
            "\u{0}",
            "</script>",
            "a\u{2028}b",
        ]
        .map(str::to_owned)
        .to_vec();
        // Every byte value below 0x80 at the start, middle and end of a longer string (the
        // scan runs over vectors of bytes).
        for b in 0u8..0x80 {
            let c = char::from(b);
            cases.push(format!("{c}{}", "x".repeat(40)));
            cases.push(format!("{}{c}{}", "x".repeat(20), "y".repeat(20)));
            cases.push(format!("{}{c}", "x".repeat(40)));
        }
        for s in cases {
            let mut out = Vec::new();
            string(&s, &mut out);
            assert_eq!(out, serde_json::to_vec(&s).unwrap(), "{s:?}");
        }
    }
    /// RFC 6962's MTH, recursively, to check the streaming form against.
    fn mth(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => leaves[0],
            n => {
                let k = n.next_power_of_two() / 2;
                let k = if k == n { n / 2 } else { k };
                node(&mth(&leaves[..k]), &mth(&leaves[k..]))
            }
        }
    }

    #[test]
    fn the_streaming_merkle_root_is_rfc_6962s() {
        for n in 0..40u8 {
            let leaves: Vec<Hash> = (0..n).map(|i| Sha256::digest([i]).into()).collect();
            let mut m = Merkle::default();
            for l in &leaves {
                m.push(*l);
            }
            assert_eq!(m.root(), mth(&leaves), "{n} leaves");
        }
    }

    /// The content as the canonical JSON of an object built whole: what
    /// [`Row::content`] writes key by key.
    fn content_of_a_map(row: &Row, salts: &Salts) -> Option<Vec<u8>> {
        let committed = |value: &Json| -> Option<Json> {
            let value = column_json(value);
            let Json::Object(map) = value.as_ref() else {
                return Some(value.into_owned());
            };
            let log = matches!(row, Row::Log(_));
            let mut out = Map::new();
            for (field, v) in map {
                let c = match salts.erased.get(field) {
                    Some(c) if log && scrubbed_change(v) => *c,
                    Some(_) => return None,
                    None => commitment(&salts.salt(field)?, field, v),
                };
                out.insert(field.clone(), Json::String(to_hex(&c)));
            }
            for (field, c) in &salts.erased {
                if log && !map.contains_key(field) {
                    return None;
                }
                out.entry(field.clone())
                    .or_insert_with(|| Json::String(to_hex(c)));
            }
            Some(Json::Object(out))
        };
        let text = |s: &str| Json::String(s.to_owned());
        let opt = |s: &Option<String>| s.as_deref().map_or(Json::Null, text);
        let mut m = Map::new();
        match row {
            Row::Log(r) => {
                m.insert("table".into(), text("activity_log"));
                m.insert("action".into(), text(&r.action));
                m.insert("subject_type".into(), text(&r.subject_type));
                m.insert("subject_id".into(), text(&r.subject_id));
                m.insert("causer_id".into(), opt(&r.causer_id));
                m.insert("changes".into(), committed(&r.changes)?);
                let props = r.properties.as_ref().map_or(Json::Null, stored_json);
                m.insert("properties".into(), props);
                m.insert("ip".into(), opt(&r.ip));
                m.insert("user_agent".into(), opt(&r.user_agent));
                m.insert("request_id".into(), opt(&r.request_id));
                m.insert(
                    "version_id".into(),
                    r.version_id.map_or(Json::Null, Json::from),
                );
                m.insert("created_at".into(), text(&time(r.created_at)));
            }
            Row::Versions(r) => {
                m.insert("table".into(), text("versions"));
                m.insert("subject_type".into(), text(&r.subject_type));
                m.insert("subject_id".into(), text(&r.subject_id));
                m.insert("version".into(), Json::from(r.version));
                m.insert("event".into(), text(&r.event));
                m.insert("data".into(), committed(&r.data)?);
                m.insert("causer_id".into(), opt(&r.causer_id));
                m.insert("created_at".into(), text(&time(r.created_at)));
            }
        }
        let mut out = Vec::new();
        canonical(&Json::Object(m), &mut out);
        Some(out)
    }

    #[test]
    fn content_written_key_by_key_is_the_canonical_json_of_the_row() {
        let at = DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap();
        let log = |changes: Json, props: Option<Json>, text: Option<&str>| {
            Row::Log(activity_log::Model {
                id: 9,
                action: "updated \"quoted\" é".into(),
                subject_type: "post".into(),
                subject_id: "42".into(),
                causer_id: text.map(str::to_owned),
                changes,
                properties: props,
                ip: text.map(str::to_owned),
                user_agent: text.map(|t| format!("{t}\n\u{1}")),
                request_id: None,
                version_id: text.map(|_| 7),
                created_at: at,
            })
        };
        let version = |data: Json| {
            Row::Versions(versions::Model {
                id: 3,
                subject_type: "post".into(),
                subject_id: "42".into(),
                version: 12,
                event: "updated".into(),
                data,
                causer_id: None,
                created_at: at,
            })
        };
        let rows = [
            log(
                json!({"title": {"old": "a", "new": "b"}, "n": {"old": 1, "new": 2.5}}),
                None,
                None,
            ),
            log(
                json!({}),
                Some(json!({"z": [1, {"b": null, "a": true}]})),
                Some("x"),
            ),
            log(
                Json::String(r#"{"text": {"old": null, "new": "stored as text"}}"#.into()),
                Some(Json::Null),
                Some(""),
            ),
            log(json!([1, 2]), None, None),
            version(json!({"id": 42, "title": "t", "body": null, "tags": ["a"], "ü": 1e300})),
            version(json!({})),
        ];
        let salts = Salts::fresh([5; 32]);
        for row in &rows {
            let direct = row.content(&salts).unwrap();
            assert_eq!(
                String::from_utf8(direct).unwrap(),
                String::from_utf8(content_of_a_map(row, &salts).unwrap()).unwrap()
            );
        }
        // With a field erased (its value gone from the row, its commitment kept).
        let erased = salts.erase(&rows[4], &["title"]).unwrap();
        let Row::Versions(mut scrubbed) = rows[4].clone() else {
            unreachable!()
        };
        scrubbed.data.as_object_mut().unwrap().remove("title");
        let scrubbed = Row::Versions(scrubbed);
        assert_eq!(
            scrubbed.content(&erased),
            content_of_a_map(&scrubbed, &erased)
        );
        assert_eq!(scrubbed.content(&erased), rows[4].content(&salts));
    }

    /// Known answers: a link of format 1 hashes as every link sealed before the format was
    /// stored did (those must go on verifying), and one of format 2 adds the row's id.
    #[test]
    fn link_formats_hash_as_documented() {
        let content = br#"{"a":1}"#;
        let hex = |format| link(format, &GENESIS, 7, content).map(|h| to_hex(&h));
        assert_eq!(
            hex(1).as_deref(),
            Some("15b6112589adb9a316ae2007f244b80290f704a1bd6aec52985e140430a85994")
        );
        assert_eq!(
            hex(2).as_deref(),
            Some("1b03e53ae2a17f57d7205c0b5e82fe087248b1ec3e4fd7ecbca7bf726ea4dc90")
        );
        assert_eq!(hex(3), None);
        assert_eq!(hex(0), None);
    }

    #[test]
    fn a_link_depends_on_the_previous_hash_and_every_byte() {
        let link = |prev: &Hash, id: i64, content: &[u8]| link(LINK_FORMAT, prev, id, content);
        let a = link(&GENESIS, 1, b"{}").unwrap();
        assert_ne!(Some(a), link(&a, 1, b"{}"));
        assert_ne!(Some(a), link(&GENESIS, 1, b"{ }"));
        // The row's id is in the hash.
        assert_ne!(Some(a), link(&GENESIS, 2, b"{}"));
        assert_eq!(from_hex(&to_hex(&a)), Some(a));
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex(&format!("0x{}", &to_hex(&a)[2..])), None);
        assert_eq!(from_hex(&format!("0x{}", to_hex(&a))), None);
    }
}
