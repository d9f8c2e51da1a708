//! A small, fast JSON scanner for log records.
//!
//! It does not build a document. It finds value boundaries (so a reader can
//! skip the fields a query does not use at memchr speed) and decodes strings
//! on demand. Every function returns an error with a byte offset instead of
//! panicking, whatever the input.

use std::borrow::Cow;

use memchr::memchr2;

/// A syntax error at a byte offset of the scanned buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub offset: usize,
    pub msg: &'static str,
}

pub type Result<T> = std::result::Result<T, SyntaxError>;

fn err<T>(offset: usize, msg: &'static str) -> Result<T> {
    Err(SyntaxError { offset, msg })
}

/// Maximum nesting depth accepted (CloudTrail stays far below it).
pub const MAX_DEPTH: usize = 512;

#[inline]
pub fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\n' | b'\r' | b'\t') {
        i += 1;
    }
    i
}

/// `i` points just after an opening quote; returns the index just after the
/// closing quote.
#[inline]
pub fn skip_string_body(b: &[u8], start: usize) -> Result<usize> {
    let mut i = start;
    loop {
        match memchr2(b'"', b'\\', &b[i..]) {
            None => return err(start.saturating_sub(1), "unterminated string"),
            Some(off) => {
                let j = i + off;
                if b[j] == b'"' {
                    return Ok(j + 1);
                }
                // backslash: skip it and the escaped byte
                if j + 1 >= b.len() {
                    return err(j, "unterminated escape");
                }
                i = j + 2;
            }
        }
    }
}

fn skip_literal(b: &[u8], i: usize, lit: &'static [u8]) -> Result<usize> {
    if b.len() >= i + lit.len() && &b[i..i + lit.len()] == lit {
        Ok(i + lit.len())
    } else {
        err(i, "invalid literal")
    }
}

fn skip_number(b: &[u8], i: usize) -> Result<usize> {
    let mut j = i;
    if j < b.len() && b[j] == b'-' {
        j += 1;
    }
    let digits_start = j;
    while j < b.len() && matches!(b[j], b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-') {
        j += 1;
    }
    if j == digits_start || !b[digits_start].is_ascii_digit() {
        return err(i, "invalid number");
    }
    Ok(j)
}

/// Skip one JSON value starting at `i` (after whitespace). Returns the index
/// just after it.
pub fn skip_value(b: &[u8], i: usize) -> Result<usize> {
    let Some(&c) = b.get(i) else {
        return err(i, "unexpected end of input, expected a value");
    };
    match c {
        b'"' => skip_string_body(b, i + 1),
        b'{' | b'[' => skip_container(b, i),
        b't' => skip_literal(b, i, b"true"),
        b'f' => skip_literal(b, i, b"false"),
        b'n' => skip_literal(b, i, b"null"),
        b'-' | b'0'..=b'9' => skip_number(b, i),
        _ => err(i, "unexpected character, expected a value"),
    }
}

const INTERESTING: [bool; 256] = {
    let mut t = [false; 256];
    t[b'"' as usize] = true;
    t[b'{' as usize] = true;
    t[b'}' as usize] = true;
    t[b'[' as usize] = true;
    t[b']' as usize] = true;
    t
};

/// Skip an object or array, checking bracket balance and string termination
/// (not every grammar rule: commas and colons are not verified inside skipped
/// values, which the reader never looks at).
fn skip_container(b: &[u8], start: usize) -> Result<usize> {
    let mut stack: [u8; 64] = [0; 64];
    let mut overflow: Vec<u8> = Vec::new();
    let mut depth = 0usize;
    let mut i = start;
    while i < b.len() {
        // Jump to the next byte that matters (quote or bracket).
        while i < b.len() && !INTERESTING[b[i] as usize] {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        match b[i] {
            b'"' => {
                i = skip_string_body(b, i + 1)?;
                continue;
            }
            c @ (b'{' | b'[') => {
                if depth >= MAX_DEPTH {
                    return err(i, "nesting too deep");
                }
                let close = if c == b'{' { b'}' } else { b']' };
                if depth < stack.len() {
                    stack[depth] = close;
                } else {
                    overflow.push(close);
                }
                depth += 1;
            }
            c @ (b'}' | b']') => {
                if depth == 0 {
                    return err(i, "unbalanced bracket");
                }
                depth -= 1;
                let want = if depth < stack.len() {
                    stack[depth]
                } else {
                    overflow.pop().unwrap_or(0)
                };
                if want != c {
                    return err(i, "mismatched bracket");
                }
                if depth == 0 {
                    return Ok(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    err(start, "unterminated object or array")
}

/// The JSON kind of the value at `i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Object,
    Array,
    Null,
    Other,
}

#[inline]
pub fn kind_at(b: &[u8], i: usize) -> Kind {
    match b.get(i) {
        Some(b'"') => Kind::String,
        Some(b'{') => Kind::Object,
        Some(b'[') => Kind::Array,
        Some(b'n') => Kind::Null,
        _ => Kind::Other,
    }
}

/// Iterate the members of the object at `i` (which must be `{`): calls
/// `f(key_bytes, value_start, value_end)` for each. Returns the index after
/// the closing brace. Keys are returned raw (escapes not decoded; CloudTrail
/// keys have none).
pub fn for_each_member<'a>(
    b: &'a [u8],
    i: usize,
    mut f: impl FnMut(&'a [u8], usize, usize) -> Result<()>,
) -> Result<usize> {
    debug_assert_eq!(b.get(i), Some(&b'{'));
    let mut j = skip_ws(b, i + 1);
    if b.get(j) == Some(&b'}') {
        return Ok(j + 1);
    }
    loop {
        if b.get(j) != Some(&b'"') {
            return err(j, "expected an object key");
        }
        let kend = skip_string_body(b, j + 1)?;
        let key = &b[j + 1..kend - 1];
        j = skip_ws(b, kend);
        if b.get(j) != Some(&b':') {
            return err(j, "expected ':' after object key");
        }
        let vstart = skip_ws(b, j + 1);
        let vend = skip_value(b, vstart)?;
        f(key, vstart, vend)?;
        j = skip_ws(b, vend);
        match b.get(j) {
            Some(b',') => j = skip_ws(b, j + 1),
            Some(b'}') => return Ok(j + 1),
            _ => return err(j, "expected ',' or '}' in object"),
        }
    }
}

/// Iterate the elements of the array at `i` (which must be `[`): calls
/// `f(value_start, value_end)`. Returns the index after the closing bracket.
pub fn for_each_element(
    b: &[u8],
    i: usize,
    mut f: impl FnMut(usize, usize) -> Result<()>,
) -> Result<usize> {
    debug_assert_eq!(b.get(i), Some(&b'['));
    let mut j = skip_ws(b, i + 1);
    if b.get(j) == Some(&b']') {
        return Ok(j + 1);
    }
    loop {
        let vend = skip_value(b, j)?;
        f(j, vend)?;
        j = skip_ws(b, vend);
        match b.get(j) {
            Some(b',') => j = skip_ws(b, j + 1),
            Some(b']') => return Ok(j + 1),
            _ => return err(j, "expected ',' or ']' in array"),
        }
    }
}

/// A buffer being read, with its text when the whole of it is UTF-8 (checked
/// once, at SIMD speed): values are then sliced out of the text instead of
/// being validated one by one.
#[derive(Debug, Clone, Copy)]
pub struct Src<'a> {
    pub bytes: &'a [u8],
    pub text: Option<&'a str>,
}

impl<'a> Src<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Src {
            bytes,
            text: simdutf8::basic::from_utf8(bytes).ok(),
        }
    }

    /// The JSON string at `a..z` (quotes included), decoded as
    /// [`decode_string`] does.
    #[inline]
    pub fn string(&self, a: usize, z: usize) -> Cow<'a, str> {
        if let Some(t) = self.text {
            if z >= a + 2 && memchr::memchr(b'\\', &self.bytes[a + 1..z - 1]).is_none() {
                if let Some(s) = t.get(a + 1..z - 1) {
                    return Cow::Borrowed(s);
                }
            }
        }
        decode_string(&self.bytes[a..z])
    }

    /// The text of `a..z` as it is (U+FFFD if it is not UTF-8).
    #[inline]
    pub fn raw(&self, a: usize, z: usize) -> &'a str {
        match self.text.and_then(|t| t.get(a..z)) {
            Some(s) => s,
            None => std::str::from_utf8(&self.bytes[a..z]).unwrap_or("\u{FFFD}"),
        }
    }
}

/// Decode a JSON string value (the slice includes its quotes). Invalid
/// escapes and lone surrogates become U+FFFD; the caller has validated UTF-8.
pub fn decode_string(raw: &[u8]) -> Cow<'_, str> {
    let inner = if raw.len() >= 2 {
        &raw[1..raw.len() - 1]
    } else {
        &raw[0..0]
    };
    if memchr::memchr(b'\\', inner).is_none() {
        return String::from_utf8_lossy(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let Some(off) = memchr::memchr(b'\\', &inner[i..]) else {
            out.push_str(&String::from_utf8_lossy(&inner[i..]));
            break;
        };
        out.push_str(&String::from_utf8_lossy(&inner[i..i + off]));
        i += off + 1;
        let Some(&e) = inner.get(i) else {
            out.push('\u{FFFD}');
            break;
        };
        i += 1;
        match e {
            b'"' => out.push('"'),
            b'\\' => out.push('\\'),
            b'/' => out.push('/'),
            b'b' => out.push('\u{8}'),
            b'f' => out.push('\u{c}'),
            b'n' => out.push('\n'),
            b'r' => out.push('\r'),
            b't' => out.push('\t'),
            b'u' => {
                let hi = hex4(inner, i);
                i += 4;
                match hi {
                    Some(h @ 0xD800..=0xDBFF) => {
                        let lo = if inner.get(i) == Some(&b'\\') && inner.get(i + 1) == Some(&b'u')
                        {
                            hex4(inner, i + 2)
                        } else {
                            None
                        };
                        match lo {
                            Some(l @ 0xDC00..=0xDFFF) => {
                                i += 6;
                                let c = 0x10000 + ((h - 0xD800) << 10) + (l - 0xDC00);
                                out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                            }
                            _ => out.push('\u{FFFD}'),
                        }
                    }
                    Some(c) => out.push(char::from_u32(c).unwrap_or('\u{FFFD}')),
                    None => {
                        out.push('\u{FFFD}');
                        i = i.min(inner.len());
                    }
                }
            }
            _ => out.push('\u{FFFD}'),
        }
    }
    Cow::Owned(out)
}

fn hex4(b: &[u8], i: usize) -> Option<u32> {
    let s = b.get(i..i + 4)?;
    let mut v = 0u32;
    for &c in s {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_nested_values() {
        let b = br#"{"a":[1,{"b":"x\"}"}],"c":null} tail"#;
        let end = skip_value(b, 0).unwrap();
        assert_eq!(&b[end..], b" tail");
    }

    #[test]
    fn reports_offsets() {
        assert_eq!(
            skip_value(b"{\"a\":[1,2}", 0).unwrap_err().msg,
            "mismatched bracket"
        );
        assert_eq!(skip_value(b"\"abc", 0).unwrap_err().offset, 0);
        assert!(skip_value(b"", 0).is_err());
        assert!(skip_value(b"-", 0).is_err());
        let deep = "[".repeat(600);
        assert_eq!(
            skip_value(deep.as_bytes(), 0).unwrap_err().msg,
            "nesting too deep"
        );
    }

    #[test]
    fn members_and_elements() {
        let b = br#" {"k1" : "v", "k2":{"x":1} } "#;
        let mut keys = vec![];
        let i = skip_ws(b, 0);
        for_each_member(b, i, |k, s, e| {
            keys.push((
                String::from_utf8_lossy(k).to_string(),
                String::from_utf8_lossy(&b[s..e]).to_string(),
            ));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            keys,
            vec![
                ("k1".into(), "\"v\"".into()),
                ("k2".into(), "{\"x\":1}".into())
            ]
        );
        let mut n = 0;
        for_each_element(b"[1, 2 ,3]", 0, |_, _| {
            n += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 3);
        assert!(for_each_member(b"{\"a\" 1}", 0, |_, _, _| Ok(())).is_err());
    }

    #[test]
    fn decodes_escapes() {
        assert_eq!(
            decode_string(br#""a\nb\"c\u00e9\ud83d\ude00""#),
            "a\nb\"cé😀"
        );
        assert_eq!(decode_string(br#""bad\ud800x""#), "bad\u{FFFD}x");
        assert_eq!(decode_string(br#""\q""#), "\u{FFFD}");
        assert_eq!(decode_string(br#""\u12""#), "\u{FFFD}");
    }
}
