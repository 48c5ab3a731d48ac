//! Streaming decompression of `content-encoding: gzip` and `deflate` response bodies, so that
//! compressed bytes never make a false mismatch. Output is handed out in small pieces as input
//! arrives; the caller stops at its cap, so a zip bomb costs at most the cap (and the input it
//! has read), never an allocation of its claimed size.

use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZError, MZFlush, MZStatus};

/// Output is produced through a buffer of this size on the stack.
const CHUNK: usize = 8192;
/// Compressed input handed to miniz per call (see `Inflater::feed_some`).
const INPUT_STEP: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gzip,
    Deflate,
}

/// An encoding the plugin cannot undo: br, zstd, a list of several, anything unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsupported;

impl Encoding {
    /// `Ok(None)` for an uncompressed body.
    pub fn from_header(value: Option<&[u8]>) -> Result<Option<Encoding>, Unsupported> {
        let Some(value) = value else { return Ok(None) };
        let value = String::from_utf8_lossy(value).trim().to_ascii_lowercase();
        match value.as_str() {
            "" | "identity" => Ok(None),
            "gzip" | "x-gzip" => Ok(Some(Encoding::Gzip)),
            "deflate" => Ok(Some(Encoding::Deflate)),
            _ => Err(Unsupported),
        }
    }
}

/// The input is not a valid stream of its encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Corrupt;

pub struct Inflater {
    /// Still reading the gzip header (gzip only).
    header: Option<GzipHeader>,
    /// Created at the first deflate byte: zlib-wrapped or raw is told by that byte.
    state: Option<Box<InflateState>>,
    encoding: Encoding,
    finished: bool,
    /// The last output buffer came back full: more output may be owed for input taken.
    draining: bool,
}

impl Inflater {
    pub fn new(encoding: Encoding) -> Inflater {
        Inflater {
            header: (encoding == Encoding::Gzip).then(GzipHeader::default),
            state: None,
            encoding,
            finished: false,
            draining: false,
        }
    }

    /// Memory held while decompressing (the 32 KiB window and tables).
    pub const BYTES_HELD: usize = std::mem::size_of::<InflateState>();

    /// Whether the compressed stream has ended (what follows, e.g. gzip's trailer, is ignored).
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Whether output is still owed for input already taken (a slice stopped at its output
    /// bound): the next `feed` produces it, even with no more input.
    pub fn draining(&self) -> bool {
        self.draining && !self.finished
    }

    /// Decompresses `input`, handing each piece of output to `out`; `out` returning false
    /// stops the work (the caller's cap is reached).
    pub fn feed(
        &mut self,
        input: &[u8],
        out: &mut impl FnMut(&[u8]) -> bool,
    ) -> Result<(), Corrupt> {
        self.feed_some(input, usize::MAX, out).map(drop)
    }

    /// `feed`, stopping once `max_output` bytes were produced, so that one slice of work is
    /// bounded however well the input compresses; returns how many bytes of `input` were
    /// taken (the rest is handed in again next time).
    pub fn feed_some(
        &mut self,
        input: &[u8],
        max_output: usize,
        out: &mut impl FnMut(&[u8]) -> bool,
    ) -> Result<usize, Corrupt> {
        let mut rest = input;
        if let Some(header) = &mut self.header {
            let used = header.read(rest)?;
            rest = rest.get(used..).unwrap_or_default();
            if !header.done() {
                return Ok(input.len());
            }
            self.header = None;
        }
        if self.finished {
            // What follows the stream (gzip's trailer) is taken and ignored.
            return Ok(input.len());
        }
        if rest.is_empty() && !self.draining {
            return Ok(input.len());
        }
        let encoding = self.encoding;
        let state = self.state.get_or_insert_with(|| {
            InflateState::new_boxed(match (encoding, rest.first()) {
                (Encoding::Deflate, Some(first)) if looks_like_zlib(*first) => DataFormat::Zlib,
                _ => DataFormat::Raw,
            })
        });
        let mut buffer = [0u8; CHUNK];
        let mut produced = 0usize;
        let taken = |rest: &[u8]| input.len() - rest.len();
        loop {
            // No more room than the bound leaves: the slice ends exactly at it.
            let room = max_output.saturating_sub(produced).clamp(1, CHUNK);
            let window = buffer.get_mut(..room).unwrap_or_default();
            // A little input at a time: miniz inflates up to 32 KiB into its window per call,
            // as much as the input given allows, so that input bounds the work past the slice's
            // output bound.
            let step = rest.get(..INPUT_STEP).unwrap_or(rest);
            let result = inflate(state, step, window, MZFlush::None);
            rest = rest.get(result.bytes_consumed..).unwrap_or_default();
            produced = produced.saturating_add(result.bytes_written);
            if !out(window.get(..result.bytes_written).unwrap_or_default()) {
                return Ok(taken(rest));
            }
            match result.status {
                Ok(MZStatus::StreamEnd) => {
                    self.finished = true;
                    return Ok(input.len());
                }
                Ok(_) | Err(MZError::Buf) => {
                    let progress = result.bytes_consumed > 0 || result.bytes_written > 0;
                    let more_output = result.bytes_written == room;
                    self.draining = more_output;
                    if !progress || (rest.is_empty() && !more_output) || produced >= max_output {
                        return Ok(taken(rest));
                    }
                }
                Err(_) => return Err(Corrupt),
            }
        }
    }
}

/// RFC 1950: a zlib stream starts with CM = 8 and CINFO <= 7. A raw deflate stream starting
/// so would be a stored block; `content-encoding: deflate` means zlib, but some servers send
/// raw deflate, so both are read.
fn looks_like_zlib(first: u8) -> bool {
    first & 0x0f == 8 && first >> 4 <= 7
}

/// RFC 1952's member header, read byte by byte as chunks arrive.
#[derive(Debug, Default)]
struct GzipHeader {
    /// Bytes of the fixed 10-byte part seen so far.
    fixed: usize,
    flags: u8,
    stage: Stage,
    /// Bytes still to skip (FEXTRA's length, then its data; FHCRC).
    skip: usize,
    extra_length_bytes: usize,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Stage {
    #[default]
    Fixed,
    ExtraLength,
    Extra,
    Name,
    Comment,
    HeaderCrc,
    Done,
}

const FHCRC: u8 = 2;
const FEXTRA: u8 = 4;
const FNAME: u8 = 8;
const FCOMMENT: u8 = 16;
const RESERVED: u8 = 0xe0;

impl GzipHeader {
    fn done(&self) -> bool {
        self.stage == Stage::Done
    }

    /// Reads header bytes from `input`; returns how many it used.
    fn read(&mut self, input: &[u8]) -> Result<usize, Corrupt> {
        let mut used = 0;
        for &byte in input {
            if self.done() {
                break;
            }
            used += 1;
            self.byte(byte)?;
            while self.stage_is_empty() {
                self.stage = self.next_stage();
            }
        }
        Ok(used)
    }

    fn byte(&mut self, byte: u8) -> Result<(), Corrupt> {
        match self.stage {
            Stage::Fixed => {
                let expected = match self.fixed {
                    0 => Some(0x1f),
                    1 => Some(0x8b),
                    2 => Some(8),
                    _ => None,
                };
                if expected.is_some_and(|e| e != byte) {
                    return Err(Corrupt);
                }
                if self.fixed == 3 {
                    if byte & RESERVED != 0 {
                        return Err(Corrupt);
                    }
                    self.flags = byte;
                }
                self.fixed += 1;
            }
            Stage::ExtraLength => {
                self.skip |= usize::from(byte) << (8 * self.extra_length_bytes);
                self.extra_length_bytes += 1;
            }
            Stage::Extra | Stage::HeaderCrc => self.skip = self.skip.saturating_sub(1),
            // The zero byte ends the field: clearing its flag says so to `stage_is_empty`.
            Stage::Name if byte == 0 => self.flags &= !FNAME,
            Stage::Comment if byte == 0 => self.flags &= !FCOMMENT,
            Stage::Name | Stage::Comment => {}
            Stage::Done => {}
        }
        Ok(())
    }

    /// Whether the current stage has nothing more to read (and the next one begins).
    fn stage_is_empty(&self) -> bool {
        match self.stage {
            Stage::Fixed => self.fixed == 10,
            Stage::ExtraLength => self.extra_length_bytes == 2,
            Stage::Extra | Stage::HeaderCrc => self.skip == 0,
            Stage::Name => self.flags & FNAME == 0,
            Stage::Comment => self.flags & FCOMMENT == 0,
            Stage::Done => false,
        }
    }

    fn next_stage(&mut self) -> Stage {
        let next = GzipHeader::after(self.stage);
        match next {
            Stage::ExtraLength if self.flags & FEXTRA == 0 => Stage::Name,
            Stage::HeaderCrc if self.flags & FHCRC == 0 => Stage::Done,
            Stage::HeaderCrc => {
                self.skip = 2;
                Stage::HeaderCrc
            }
            other => other,
        }
    }

    /// RFC 1952's order of the header's parts.
    fn after(stage: Stage) -> Stage {
        match stage {
            Stage::Fixed => Stage::ExtraLength,
            Stage::ExtraLength => Stage::Extra,
            Stage::Extra => Stage::Name,
            Stage::Name => Stage::Comment,
            Stage::Comment => Stage::HeaderCrc,
            Stage::HeaderCrc | Stage::Done => Stage::Done,
        }
    }
}
