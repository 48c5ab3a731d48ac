//! The JSON diff's fast path: both bodies read side by side, token by token, with no document
//! built.
//!
//! Most candidate and reference bodies come from the same serializer, so their members come in
//! the same order. While they do, the two bodies are compared as they are read: each byte is
//! read once (by the plugin's tokenizer, `crate::json`), nothing is stored but the path and the
//! keys of the open objects, and the result is exactly the one the long way (`document` and
//! `walk`) would give. Whenever the shapes part (different keys or member order, a different
//! number of members, an escaped key, an object of more than `MAX_MEMBERS` members) or anything
//! is wrong (bad syntax, too deep, too many values, a lone surrogate), it gives up and the long
//! way is taken: never a different answer, at most the cost of both.

use super::document::MAX_VALUES;
use super::walk::{Cursor, Differences, IgnoredPath};
use crate::json::number::numbers_equal;
use crate::json::text::texts_equal;
use crate::json::{Str, Token, Tokenizer};

/// Larger objects are left to the long way (which indexes them): duplicate keys are looked
/// for by comparing each key with the ones before it.
pub(super) const MAX_MEMBERS: usize = 32;

/// The fast path does not apply; the long way will tell.
#[derive(Debug)]
struct GiveUp;

/// The candidate-vs-reference differences, if the fast path applies.
pub(super) fn diff(
    candidate: &[u8],
    reference: &[u8],
    ignore: &[IgnoredPath],
) -> Option<Differences> {
    for body in [candidate, reference] {
        // What the long way refuses (too long for its spans), this does too.
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
    let (a, b) = (lockstep.a.token().ok()?, lockstep.b.token().ok()?);
    lockstep.value(a, b).ok()?;
    for reader in [&mut lockstep.a, &mut lockstep.b] {
        let ended = reader.tokenizer.next(reader.body) == Ok(None);
        if !ended || reader.tokenizer.lone_surrogates() {
            return None;
        }
    }
    Some(lockstep.differences)
}

struct Reader<'b> {
    body: &'b [u8],
    tokenizer: Tokenizer,
    values: usize,
}

impl<'b> Reader<'b> {
    fn new(body: &'b [u8]) -> Reader<'b> {
        Reader {
            body,
            tokenizer: Tokenizer::new(),
            values: 0,
        }
    }

    /// The next token (a document's end is no token here: the caller expects more).
    fn token(&mut self) -> Result<Token, GiveUp> {
        let token = self
            .tokenizer
            .next(self.body)
            .ok()
            .flatten()
            .ok_or(GiveUp)?;
        if token.starts_value() {
            self.values += 1;
            if self.values > MAX_VALUES {
                return Err(GiveUp);
            }
        }
        Ok(token)
    }

    /// The rest of a value whose first token was read, checked (duplicate keys too), kept
    /// nowhere.
    fn skip_rest(&mut self, first: Token, keys: &mut Vec<&'b [u8]>) -> Result<(), GiveUp> {
        match first {
            Token::ObjectStart => {
                let base = keys.len();
                loop {
                    match self.token()? {
                        Token::ObjectEnd => break,
                        Token::Key => {
                            let key = unique_key(self.tokenizer.string(), self.body, keys, base)
                                .ok_or(GiveUp)?;
                            keys.push(key);
                            let value = self.token()?;
                            self.skip_rest(value, keys)?;
                        }
                        _ => return Err(GiveUp),
                    }
                }
                keys.truncate(base);
            }
            Token::ArrayStart => loop {
                match self.token()? {
                    Token::ArrayEnd => break,
                    item => self.skip_rest(item, keys)?,
                }
            },
            _ => {}
        }
        Ok(())
    }
}

/// A key that is plain (no escapes) and not already among `keys[base..]` (its object's);
/// `None` where that cannot be told cheaply here (the long way will).
fn unique_key<'b>(key: Str, body: &'b [u8], keys: &[&[u8]], base: usize) -> Option<&'b [u8]> {
    let text = key.content(body);
    let siblings = keys.get(base..).unwrap_or_default();
    if key.escaped || siblings.len() >= MAX_MEMBERS || siblings.contains(&text) {
        return None;
    }
    Some(text)
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
    /// Compares the values whose first tokens are `a` and `b`, just read (their spans are the
    /// tokenizers' last). The tokenizer bounds the depth of this recursion to `MAX_DEPTH`.
    fn value(&mut self, a: Token, b: Token) -> Result<(), GiveUp> {
        if self.cursor.ignored() {
            self.a.skip_rest(a, &mut self.keys)?;
            return self.b.skip_rest(b, &mut self.keys);
        }
        match (a, b) {
            (Token::ObjectStart, Token::ObjectStart) => self.objects(),
            (Token::ArrayStart, Token::ArrayStart) => self.arrays(),
            (a, b) => {
                if !self.scalars_equal(a, b) {
                    self.differences.add(self.cursor.path(), false);
                }
                self.a.skip_rest(a, &mut self.keys)?;
                self.b.skip_rest(b, &mut self.keys)
            }
        }
    }

    fn objects(&mut self) -> Result<(), GiveUp> {
        let base = self.keys.len();
        loop {
            let (key_a, key_b) = match (self.a.token()?, self.b.token()?) {
                (Token::ObjectEnd, Token::ObjectEnd) => break,
                (Token::Key, Token::Key) => (self.a.tokenizer.string(), self.b.tokenizer.string()),
                _ => return Err(GiveUp),
            };
            let key = unique_key(key_a, self.a.body, &self.keys, base).ok_or(GiveUp)?;
            if key_b.escaped || key_b.content(self.b.body) != key {
                return Err(GiveUp);
            }
            self.keys.push(key);
            self.cursor.push_key(key);
            let (a, b) = (self.a.token()?, self.b.token()?);
            self.value(a, b)?;
            self.cursor.pop();
        }
        self.keys.truncate(base);
        Ok(())
    }

    fn arrays(&mut self) -> Result<(), GiveUp> {
        let (mut a, mut b) = (self.a.token()?, self.b.token()?);
        let mut position = 0;
        loop {
            let (more_a, more_b) = (a != Token::ArrayEnd, b != Token::ArrayEnd);
            if !more_a && !more_b {
                return Ok(());
            }
            self.cursor.push_index(position);
            if more_a && more_b {
                self.value(a, b)?;
            } else {
                // An item only one side has: a difference, unless ignored.
                if !self.cursor.ignored() {
                    self.differences.add(self.cursor.path(), false);
                }
                let (extra, first) = if more_a {
                    (&mut self.a, a)
                } else {
                    (&mut self.b, b)
                };
                extra.skip_rest(first, &mut self.keys)?;
            }
            self.cursor.pop();
            if more_a {
                a = self.a.token()?;
            }
            if more_b {
                b = self.b.token()?;
            }
            position += 1;
        }
    }

    fn scalars_equal(&mut self, a: Token, b: Token) -> bool {
        match (a, b) {
            (Token::String, Token::String) => {
                let (a, b) = (self.a.tokenizer.string(), self.b.tokenizer.string());
                // (A lone surrogate makes the whole give up, at the end.)
                texts_equal(
                    (a.content(self.a.body), a.escaped),
                    (b.content(self.b.body), b.escaped),
                    self.cursor.scratch(),
                )
            }
            (Token::Number, Token::Number) => {
                let (a, b) = (self.a.tokenizer.span(), self.b.tokenizer.span());
                let (text_a, text_b) = (a.of(self.a.body), b.of(self.b.body));
                numbers_equal(text_a, text_b, self.cursor.scratch())
            }
            (Token::True, Token::True)
            | (Token::False, Token::False)
            | (Token::Null, Token::Null) => true,
            _ => false,
        }
    }
}
