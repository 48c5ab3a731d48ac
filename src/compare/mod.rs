//! Shadow verification: each candidate copy's response compared with the original's (or a
//! reference target's), with the noise a second instance of the current version shows removed.
//!
//! Plain data and functions, no host calls: `spec` (what a target's `compare` block asks for),
//! `response` (what a response is reduced to, as it streams past; `inflate` undoes gzip and
//! deflate), `json` (the structural diff of two JSON bodies: `alike` for one document
//! written otherwise, `lockstep` for bodies whose members come in the same order, else
//! `document`s read and compared by the `walk`), `verdict` (one comparison's result), `pairing` (responses
//! waiting for their counterparts), `report` (counts per window, the summary and mismatch log
//! lines), `request` (the request a comparison belongs to). The glue that feeds them is in
//! `filter.rs` (the original's response) and `comparisons.rs` (the root's side).

pub mod accounting;
mod alike;
mod document;
pub mod inflate;
pub mod json;
mod lockstep;
pub mod pairing;
pub mod report;
pub mod request;
pub mod response;
pub mod spec;
pub mod verdict;
mod walk;
