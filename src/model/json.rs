//! Compact JSON byte for byte as serde_json writes it, for a search's
//! events, with one difference in how: a struct's field names are written
//! as they are. serde_json escapes every key byte by byte through the same
//! path as any string, and an offer has about sixty of them: that was an
//! eighth of all the instructions of a search (`docs/performance.md`).
//! Values are still written by serde_json itself. (Offers now have a
//! writer of their own, `offer_json`.)
//!
//! Structs, sequences, tuples, options, newtypes and maps with string keys
//! are walked here; a map with other keys, a tuple variant or a struct
//! variant is refused ([`write`] returns an error), and the caller then
//! encodes with serde_json as a whole ([`to_vec`] does both).

use serde::Serialize;
use serde::ser::{self, Impossible, Serializer};

/// Appends `value`'s compact JSON to `out`, exactly as
/// `serde_json::to_writer` would; on an error `out` may hold a part of it.
pub fn write<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> serde_json::Result<()> {
    value.serialize(Fast { out })
}

/// `value`'s compact JSON, as `serde_json::to_vec` makes it: by [`write`],
/// or by serde_json itself for what `write` refuses.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    if write(&mut out, value).is_err() {
        out.clear();
        serde_json::to_writer(&mut out, value)?;
    }
    Ok(out)
}

/// The bytes serde_json escapes in a string: quote, backslash and the
/// control characters.
const ESCAPED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// Text serde_json would write unchanged between its quotes. Eight bytes
/// at a time: whether any is below a space, a quote or a backslash is
/// found with the bit tricks of "Bit Twiddling Hacks" (`hasless`,
/// `haszero`), which are exact as a yes or no.
fn plain(text: &str) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH != 0;
    let mut chunks = text.as_bytes().chunks_exact(8);
    for chunk in &mut chunks {
        let x = u64::from_le_bytes(chunk.try_into().expect("chunks of eight"));
        let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGH != 0;
        if below_space
            || has_zero(x ^ (ONES * u64::from(b'"')))
            || has_zero(x ^ (ONES * u64::from(b'\\')))
        {
            return false;
        }
    }
    !chunks.remainder().iter().any(|&b| ESCAPED[b as usize])
}

/// Appends `text` as a JSON string, as serde_json writes it.
pub(super) fn write_str(out: &mut Vec<u8>, text: &str) {
    if plain(text) {
        out.reserve(text.len() + 2);
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        let mut json = serde_json::Serializer::new(out);
        // Writing into a Vec cannot fail.
        let _ = json.serialize_str(text);
    }
}

fn refused(what: &str) -> serde_json::Error {
    ser::Error::custom(format!("{what} is not written by the fast path"))
}

struct Fast<'a> {
    out: &'a mut Vec<u8>,
}

impl Fast<'_> {
    fn json(&mut self) -> serde_json::Serializer<&mut Vec<u8>> {
        serde_json::Serializer::new(&mut *self.out)
    }
}

/// A scalar is serde_json's own.
macro_rules! scalar {
    ($($name:ident($ty:ty)),* $(,)?) => {
        $(fn $name(mut self, v: $ty) -> serde_json::Result<()> {
            self.json().$name(v)
        })*
    };
}

impl<'a> Serializer for Fast<'a> {
    type Ok = ();
    type Error = serde_json::Error;
    type SerializeSeq = Seq<'a>;
    type SerializeTuple = Seq<'a>;
    type SerializeTupleStruct = Seq<'a>;
    type SerializeTupleVariant = Impossible<(), serde_json::Error>;
    type SerializeMap = Map<'a>;
    type SerializeStruct = Struct<'a>;
    type SerializeStructVariant = Impossible<(), serde_json::Error>;

    scalar!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_bytes(&[u8]),
    );

    /// A string with nothing to escape is copied as it is; serde_json
    /// escapes the rest.
    fn serialize_str(self, v: &str) -> serde_json::Result<()> {
        write_str(self.out, v);
        Ok(())
    }

    /// Dates and decimals: printed on the stack, then written as one
    /// string. serde_json's own way escapes each piece a printer writes,
    /// half a dozen a date.
    fn collect_str<T: std::fmt::Display + ?Sized>(mut self, value: &T) -> serde_json::Result<()> {
        let mut printed = Printed::default();
        if std::fmt::Write::write_fmt(&mut printed, format_args!("{value}")).is_ok() {
            return self.serialize_str(printed.as_str());
        }
        self.json().collect_str(value)
    }

    fn serialize_none(mut self) -> serde_json::Result<()> {
        self.json().serialize_none()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> serde_json::Result<()> {
        value.serialize(self)
    }

    fn serialize_unit(mut self) -> serde_json::Result<()> {
        self.json().serialize_unit()
    }

    fn serialize_unit_struct(mut self, name: &'static str) -> serde_json::Result<()> {
        self.json().serialize_unit_struct(name)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> serde_json::Result<()> {
        // As serde_json writes one: its name as a string.
        self.serialize_str(variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> serde_json::Result<()> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        mut self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> serde_json::Result<()> {
        self.json()
            .serialize_newtype_variant(name, index, variant, value)
    }

    fn serialize_seq(self, _len: Option<usize>) -> serde_json::Result<Seq<'a>> {
        self.out.push(b'[');
        Ok(Seq {
            out: self.out,
            first: true,
        })
    }

    fn serialize_tuple(self, len: usize) -> serde_json::Result<Seq<'a>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> serde_json::Result<Seq<'a>> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> serde_json::Result<Self::SerializeTupleVariant> {
        Err(refused("a tuple variant"))
    }

    fn serialize_map(self, _len: Option<usize>) -> serde_json::Result<Map<'a>> {
        self.out.push(b'{');
        Ok(Map {
            out: self.out,
            first: true,
        })
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> serde_json::Result<Struct<'a>> {
        self.out.push(b'{');
        Ok(Struct {
            out: self.out,
            first: true,
        })
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> serde_json::Result<Self::SerializeStructVariant> {
        Err(refused("a struct variant"))
    }
}

/// Up to 64 bytes of printed text, on the stack; longer text is refused
/// (`fmt::Error`), and the caller prints it another way.
struct Printed {
    bytes: [u8; 64],
    len: usize,
}

impl Default for Printed {
    fn default() -> Self {
        Self {
            bytes: [0; 64],
            len: 0,
        }
    }
}

impl Printed {
    fn as_str(&self) -> &str {
        // Only whole `str`s are copied in.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl std::fmt::Write for Printed {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let room = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        room.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// The elements of a sequence or tuple.
struct Seq<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl Seq<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> serde_json::Result<()> {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        value.serialize(Fast { out: self.out })
    }

    fn close(self) -> serde_json::Result<()> {
        self.out.push(b']');
        Ok(())
    }
}

impl ser::SerializeSeq for Seq<'_> {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> serde_json::Result<()> {
        self.element(value)
    }

    fn end(self) -> serde_json::Result<()> {
        self.close()
    }
}

impl ser::SerializeTuple for Seq<'_> {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> serde_json::Result<()> {
        self.element(value)
    }

    fn end(self) -> serde_json::Result<()> {
        self.close()
    }
}

impl ser::SerializeTupleStruct for Seq<'_> {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> serde_json::Result<()> {
        self.element(value)
    }

    fn end(self) -> serde_json::Result<()> {
        self.close()
    }
}

/// The fields of a struct: each name written as it is when it needs no
/// escaping (every name a derive gives), else by serde_json.
struct Struct<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl ser::SerializeStruct for Struct<'_> {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> serde_json::Result<()> {
        let out = &mut *self.out;
        if !std::mem::take(&mut self.first) {
            out.push(b',');
        }
        if plain(key) {
            out.reserve(key.len() + 3);
            out.push(b'"');
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
        } else {
            serde_json::to_writer(&mut *out, key)?;
            out.push(b':');
        }
        value.serialize(Fast { out })
    }

    fn end(self) -> serde_json::Result<()> {
        self.out.push(b'}');
        Ok(())
    }
}

/// The entries of a map. A key is written as any value is, and must come
/// out as a JSON string: serde_json writes a string key the same way, but
/// quotes a number or a bool, which is refused here.
struct Map<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl ser::SerializeMap for Map<'_> {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> serde_json::Result<()> {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        let at = self.out.len();
        key.serialize(Fast { out: self.out })?;
        if self.out.get(at) != Some(&b'"') {
            return Err(refused("a map key other than a string"));
        }
        self.out.push(b':');
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> serde_json::Result<()> {
        value.serialize(Fast { out: self.out })
    }

    fn end(self) -> serde_json::Result<()> {
        self.out.push(b'}');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;
    use std::collections::BTreeMap;

    #[derive(Serialize)]
    struct Inner {
        #[serde(rename = "a \"quoted\" name")]
        odd: u8,
        none: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
        tuple: (u8, &'static str),
        empty: Vec<u8>,
    }

    #[derive(Serialize, PartialEq, Eq, PartialOrd, Ord)]
    #[serde(rename_all = "lowercase")]
    enum Kind {
        Outbound,
    }

    #[derive(Serialize)]
    struct Wrapped(u32);

    /// Printed through `collect_str`, as dates and decimals are.
    struct Shown(String);

    impl Serialize for Shown {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(&self.0)
        }
    }

    #[derive(Serialize)]
    struct Outer {
        text: &'static str,
        kind: Kind,
        wrapped: Wrapped,
        inner: Vec<Inner>,
        float: f64,
        unit: (),
        shown: Vec<Shown>,
    }

    #[test]
    fn writes_what_serde_json_writes() {
        let value = Outer {
            text: "tab\t, quote \", backslash \\, é, \u{1}",
            kind: Kind::Outbound,
            wrapped: Wrapped(7),
            inner: vec![
                Inner {
                    odd: 1,
                    none: None,
                    skipped: None,
                    tuple: (2, "x"),
                    empty: vec![],
                },
                Inner {
                    odd: 3,
                    none: Some("y".into()),
                    skipped: Some(4),
                    tuple: (5, "z"),
                    empty: vec![6],
                },
            ],
            float: 1.5,
            unit: (),
            shown: vec![
                Shown("2026-12-21T06:00:00".into()),
                Shown("a \"quote\" and a\nline".into()),
                // Longer than the stack buffer.
                Shown("x".repeat(100)),
            ],
        };
        let mut out = Vec::new();
        super::write(&mut out, &value).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(&value).unwrap()
        );
    }

    #[test]
    fn plain_text_is_told_from_text_to_escape_at_every_position() {
        for len in 0..20 {
            for at in 0..len {
                for b in 0u8..=127 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    let text = String::from_utf8(bytes).unwrap();
                    let naive = !text.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\');
                    assert_eq!(super::plain(&text), naive, "{text:?}");
                }
            }
        }
        assert!(super::plain(
            "é, ü and 東京: only ASCII controls, quotes and backslashes are escaped"
        ));
    }

    #[test]
    fn maps_with_string_keys_are_written_as_serde_json_writes_them() {
        let map = BTreeMap::from([
            ("k".to_string(), vec![1]),
            ("a \"quoted\"\nkey".to_string(), vec![]),
            (String::new(), vec![2, 3]),
        ]);
        let mut out = Vec::new();
        super::write(&mut out, &(map.clone(), BTreeMap::<String, u8>::new())).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            serde_json::to_string(&(map, BTreeMap::<String, u8>::new())).unwrap()
        );
        let kinds = BTreeMap::from([(Kind::Outbound, 1)]);
        let mut out = Vec::new();
        super::write(&mut out, &kinds).unwrap();
        assert_eq!(out, serde_json::to_vec(&kinds).unwrap());
    }

    #[test]
    fn a_map_with_other_keys_is_refused_so_the_caller_falls_back() {
        // serde_json writes these keys quoted: `{"1":1}`, `{"true":1}`.
        let numbers = BTreeMap::from([(1, 1)]);
        assert!(super::write(&mut Vec::new(), &numbers).is_err());
        let bools = BTreeMap::from([(true, 1)]);
        assert!(super::write(&mut Vec::new(), &bools).is_err());
        // `to_vec` then writes what serde_json writes.
        assert_eq!(super::to_vec(&numbers).unwrap(), b"{\"1\":1}");
        assert_eq!(super::to_vec(&bools).unwrap(), b"{\"true\":1}");
    }
}
