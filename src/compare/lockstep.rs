//! The JSON diff's fast path: both bodies read side by side, token by token, with no tree built.
//!
//! Most candidate and reference bodies come from the same serializer, so their members come in
//! the same order. While they do, the two bodies are compared as they are read: each byte is
//! read once, nothing is stored but the path, and the result is exactly the one `json::diff`
//! would give (`verdict` tries this first). Whenever the shapes part (different keys or member order, a different number of
//! members, an escaped key, an object of more than `MAX_MEMBERS` members) or anything is wrong
//! (bad syntax, too deep, too many values), it gives up and `json::diff` takes the long way:
//! never a different answer, at most the cost of both.

use super::json::{
    decode, numbers_equal, Cursor, Differences, IgnoredPath, JsonDiff, Scanner, StringToken,
    MAX_DEPTH, MAX_VALUES,
};

/// Larger objects are left to the long way (which indexes them): duplicate keys are looked
/// for by comparing each key with the ones before it.
const MAX_MEMBERS: usize = 32;

/// The fast path does not apply; the long way will tell.
#[derive(Debug)]
struct GiveUp;

impl From<super::json::Unreadable> for GiveUp {
    fn from(_: super::json::Unreadable) -> GiveUp {
        GiveUp
    }
}

/// The candidate-vs-reference differences, if the fast path applies.
pub(super) fn diff(candidate: &[u8], reference: &[u8], ignore: &[IgnoredPath]) -> Option<JsonDiff> {
    for body in [candidate, reference] {
        // What the long way refuses (not UTF-8, too long for its spans), this does too.
        std::str::from_utf8(body).ok()?;
        if body.len() >= 1 << 31 {
            return None;
        }
    }
    let mut lockstep = Lockstep {
        a: Reader::new(candidate),
        b: Reader::new(reference),
        cursor: Cursor::new(ignore),
        differences: Differences::default(),
        keys: Vec::new(),
    };
    lockstep.value(0).ok()?;
    if !lockstep.a.scanner.at_end() || !lockstep.b.scanner.at_end() {
        return None;
    }
    Some(JsonDiff {
        candidate: lockstep.differences,
        ..JsonDiff::default()
    })
}

#[derive(Debug, Clone, Copy)]
enum Token {
    /// Not consumed yet (`Scanner::open` does).
    Object,
    Array,
    String(StringToken),
    /// Start and end in the body.
    Number(usize, usize),
    True,
    False,
    Null,
}

struct Reader<'b> {
    scanner: Scanner<'b>,
    values: usize,
}

impl<'b> Reader<'b> {
    fn new(bytes: &'b [u8]) -> Reader<'b> {
        Reader {
            scanner: Scanner::new(bytes),
            values: 0,
        }
    }

    fn token(&mut self) -> Result<Token, GiveUp> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(GiveUp);
        }
        let s = &mut self.scanner;
        s.whitespace();
        Ok(match s.peek().ok_or(GiveUp)? {
            b'{' => Token::Object,
            b'[' => Token::Array,
            b'"' => Token::String(s.string()?),
            b't' => s.literal(b"true").map(|()| Token::True)?,
            b'f' => s.literal(b"false").map(|()| Token::False)?,
            b'n' => s.literal(b"null").map(|()| Token::Null)?,
            _ => {
                let start = s.number()?;
                Token::Number(start, s.at)
            }
        })
    }

    fn text(&self, start: usize, end: usize) -> &'b [u8] {
        self.scanner.bytes.get(start..end).unwrap_or_default()
    }

    /// Reads (and checks) one value, keeping nothing.
    fn skip(&mut self, depth: usize, keys: &mut Vec<&'b [u8]>) -> Result<(), GiveUp> {
        if depth > MAX_DEPTH {
            return Err(GiveUp);
        }
        let token = self.token()?;
        self.skip_rest(token, depth, keys)
    }

    /// The rest of a value whose token was read: a container's members.
    fn skip_rest(
        &mut self,
        token: Token,
        depth: usize,
        keys: &mut Vec<&'b [u8]>,
    ) -> Result<(), GiveUp> {
        match token {
            Token::Object => {
                let base = keys.len();
                let mut more = self.scanner.open(b'{')?;
                while more {
                    let key = self.scanner.key()?;
                    let key = unique_key(key, self.scanner.bytes, keys, base)?;
                    keys.push(key);
                    self.skip(depth + 1, keys)?;
                    more = self.scanner.more(b'}')?;
                }
                keys.truncate(base);
            }
            Token::Array => {
                let mut more = self.scanner.open(b'[')?;
                while more {
                    self.skip(depth + 1, keys)?;
                    more = self.scanner.more(b']')?;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// A key that is plain (no escapes) and not already among `keys[base..]` (its object's).
fn unique_key<'b>(
    key: StringToken,
    bytes: &'b [u8],
    keys: &[&[u8]],
    base: usize,
) -> Result<&'b [u8], GiveUp> {
    let text = key.content(bytes);
    let siblings = keys.get(base..).unwrap_or_default();
    if key.escaped || siblings.len() >= MAX_MEMBERS || siblings.contains(&text) {
        return Err(GiveUp);
    }
    Ok(text)
}

struct Lockstep<'b, 'p> {
    a: Reader<'b>,
    b: Reader<'b>,
    cursor: Cursor<'b, 'p>,
    differences: Differences,
    /// Keys of the objects being read (each object's after its base), for duplicates.
    keys: Vec<&'b [u8]>,
}

impl Lockstep<'_, '_> {
    fn value(&mut self, depth: usize) -> Result<(), GiveUp> {
        if depth > MAX_DEPTH {
            return Err(GiveUp);
        }
        if self.cursor.ignored() {
            self.a.skip(depth, &mut self.keys)?;
            return self.b.skip(depth, &mut self.keys);
        }
        match (self.a.token()?, self.b.token()?) {
            (Token::Object, Token::Object) => self.objects(depth),
            (Token::Array, Token::Array) => self.arrays(depth),
            (a, b) => {
                if !self.scalars_equal(a, b)? {
                    self.differences.add(self.cursor.path(), false);
                }
                self.a.skip_rest(a, depth, &mut self.keys)?;
                self.b.skip_rest(b, depth, &mut self.keys)
            }
        }
    }

    fn objects(&mut self, depth: usize) -> Result<(), GiveUp> {
        let base = self.keys.len();
        let mut more_a = self.a.scanner.open(b'{')?;
        let mut more_b = self.b.scanner.open(b'{')?;
        while more_a || more_b {
            if more_a != more_b {
                return Err(GiveUp);
            }
            let key_a = self.a.scanner.key()?;
            let key_b = self.b.scanner.key()?;
            let key = unique_key(key_a, self.a.scanner.bytes, &self.keys, base)?;
            if key_b.escaped || key_b.content(self.b.scanner.bytes) != key {
                return Err(GiveUp);
            }
            self.keys.push(key);
            self.cursor.push_key(key);
            self.value(depth + 1)?;
            self.cursor.pop();
            more_a = self.a.scanner.more(b'}')?;
            more_b = self.b.scanner.more(b'}')?;
        }
        self.keys.truncate(base);
        Ok(())
    }

    fn arrays(&mut self, depth: usize) -> Result<(), GiveUp> {
        let mut more_a = self.a.scanner.open(b'[')?;
        let mut more_b = self.b.scanner.open(b'[')?;
        let mut position = 0;
        while more_a || more_b {
            self.cursor.push_index(position);
            if more_a && more_b {
                self.value(depth + 1)?;
            } else {
                // An item only one side has: a difference, unless ignored.
                if !self.cursor.ignored() {
                    self.differences.add(self.cursor.path(), false);
                }
                let extra = if more_a { &mut self.a } else { &mut self.b };
                extra.skip(depth + 1, &mut self.keys)?;
            }
            self.cursor.pop();
            if more_a {
                more_a = self.a.scanner.more(b']')?;
            }
            if more_b {
                more_b = self.b.scanner.more(b']')?;
            }
            position += 1;
        }
        Ok(())
    }

    fn scalars_equal(&mut self, a: Token, b: Token) -> Result<bool, GiveUp> {
        Ok(match (a, b) {
            (Token::String(a), Token::String(b)) => {
                let (text_a, text_b) = (
                    a.content(self.a.scanner.bytes),
                    b.content(self.b.scanner.bytes),
                );
                if text_a == text_b || !(a.escaped || b.escaped) {
                    text_a == text_b
                } else {
                    let (left, right) = self.cursor.scratch();
                    left.clear();
                    right.clear();
                    decode(text_a, left)?;
                    decode(text_b, right)?;
                    left == right
                }
            }
            (Token::Number(a0, a1), Token::Number(b0, b1)) => {
                let (text_a, text_b) = (self.a.text(a0, a1), self.b.text(b0, b1));
                numbers_equal(text_a, text_b, self.cursor.scratch())
            }
            (Token::True, Token::True)
            | (Token::False, Token::False)
            | (Token::Null, Token::Null) => true,
            _ => false,
        })
    }
}
