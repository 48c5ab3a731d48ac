//! The marker that travels: a W3C `baggage` member naming the target (`traffic-mirror=canary`)
//! that an application's tracing SDK propagates to the services it calls, where the plugin's
//! loop guard and `refuse_marked_writes` recognise it (docs/copies.md).

/// W3C Baggage: a platform must propagate a baggage string of up to 8192 bytes...
pub const MAX_BYTES: usize = 8192;
/// ...and of up to 64 list-members; past either limit it may drop members, ours included.
/// (OpenTelemetry's SDKs keep up to 180.) The member is added only within both.
pub const MAX_MEMBERS: usize = 64;

/// Whether a `baggage` value has a member whose key is exactly `key` (a token, as configured:
/// case and all, so a percent-encoded or differently cased key is another key), whatever its
/// value and properties. Linear in the value: each member is looked at from its start only
/// (this runs on every request that carries baggage, for the loop guard).
pub fn has_member(value: &[u8], key: &str) -> bool {
    value.split(|b| *b == b',').any(|member| {
        // `key`, between optional whitespace, then `=`.
        trim_start_ows(member)
            .strip_prefix(key.as_bytes())
            .is_some_and(|rest| trim_start_ows(rest).first() == Some(&b'='))
    })
}

/// Without the optional whitespace before a member's key or its `=` (W3C Baggage's OWS).
fn trim_start_ows(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// A copy's `baggage`, marked with the target's member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marked {
    /// The original had no baggage: the member alone.
    Alone,
    /// The original's baggage (every `baggage` header, joined) with the member appended.
    Merged(String),
    /// Adding the member would pass W3C Baggage's limits: the copy carries the original's
    /// baggage as it came, and the header marker alone.
    NotMarked,
}

/// One `baggage` header's members, without the whitespace and empty members at its ends.
fn trimmed(value: &str) -> &str {
    value.trim_matches(|c| matches!(c, ' ' | '\t' | ','))
}

/// Adds `member` (`key=value`) to the original's `baggage` headers (`values`, in the order
/// they came), joined into one list as HTTP allows, within the limits. The limits are checked
/// first and the marked value then built in one allocation: this runs for every copy.
/// Linear in the values.
pub fn mark<'a>(values: impl Iterator<Item = &'a str> + Clone, member: &str) -> Marked {
    let lists = values.map(trimmed).filter(|list| !list.is_empty());
    // Each list and the member take their bytes and a comma between them.
    let (bytes, count) = lists
        .clone()
        .fold((member.len(), 0usize), |(bytes, count), list| {
            let bytes = bytes.saturating_add(list.len()).saturating_add(1);
            (bytes, count.saturating_add(1))
        });
    if count == 0 {
        return Marked::Alone;
    }
    if bytes > MAX_BYTES || members_past_limit(lists.clone(), bytes.saturating_sub(member.len())) {
        return Marked::NotMarked;
    }
    let mut merged = String::with_capacity(bytes);
    for list in lists {
        merged.push_str(list);
        merged.push(',');
    }
    merged.push_str(member);
    Marked::Merged(merged)
}

/// Whether `lists` and one member more pass `MAX_MEMBERS`; `bytes` is what the lists take,
/// a comma after each. Members are separated by commas (a value's own commas are
/// percent-encoded), so a list has at most one member per byte: lists that short cannot pass
/// the limit, and their commas are not counted (most baggage is a few members).
fn members_past_limit<'a>(lists: impl Iterator<Item = &'a str>, bytes: usize) -> bool {
    if bytes < MAX_MEMBERS {
        return false;
    }
    let members = lists.fold(1usize, |members, list| {
        let commas = list.bytes().filter(|b| *b == b',').count();
        members.saturating_add(commas).saturating_add(1)
    });
    members > MAX_MEMBERS
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "traffic-mirror";

    #[test]
    fn only_the_exact_key_is_the_marker() {
        for marked in [
            "traffic-mirror=canary",
            "a=1, traffic-mirror = x ;p=1",
            "traffic-mirror=",
            "a=1,\ttraffic-mirror=%20,b=2",
        ] {
            assert!(has_member(marked.as_bytes(), KEY), "{marked:?}");
        }
        for unmarked in [
            "",
            "traffic-mirror",
            "Traffic-Mirror=canary",
            "traffic%2Dmirror=canary",
            "x-traffic-mirror=canary",
            "traffic-mirror-2=canary",
            "a=traffic-mirror=canary",
            "a=1;traffic-mirror=canary",
            "traffic-mirror;p=1",
        ] {
            assert!(!has_member(unmarked.as_bytes(), KEY), "{unmarked:?}");
        }
        assert!(!has_member(&[0xff, b'=', b'x'], KEY));
    }

    /// `mark` over one header value.
    fn mark_one(value: &str, member: &str) -> Marked {
        mark(std::iter::once(value), member)
    }

    #[test]
    fn the_member_is_appended_to_every_baggage_header_joined() {
        let member = "traffic-mirror=canary";
        assert_eq!(mark(std::iter::empty(), member), Marked::Alone);
        assert_eq!(mark([" ", ","].into_iter(), member), Marked::Alone);
        assert_eq!(
            mark(["a=1;p", " b=%2C2 ,", "", ","].into_iter(), member),
            Marked::Merged("a=1;p,b=%2C2,traffic-mirror=canary".into())
        );
    }

    #[test]
    fn past_the_w3c_limits_the_member_is_not_added() {
        let member = "traffic-mirror=canary";
        let fits = "k=".to_string() + &"v".repeat(MAX_BYTES - member.len() - 1 - 2);
        assert!(matches!(mark_one(&fits, member), Marked::Merged(m) if m.len() == MAX_BYTES));
        let too_long = fits.clone() + "v";
        assert_eq!(mark_one(&too_long, member), Marked::NotMarked);
        // Split over two headers, the same bytes (the comma joining them counts).
        let (first, second) = fits.split_at(100);
        assert!(matches!(
            mark([first, second.strip_prefix('v').unwrap()].into_iter(), member),
            Marked::Merged(m) if m.len() == MAX_BYTES
        ));
        assert_eq!(mark([first, second].into_iter(), member), Marked::NotMarked);
        let hundred_kb = "k=".to_string() + &"v".repeat(100 << 10);
        assert_eq!(mark_one(&hundred_kb, member), Marked::NotMarked);
        let members = |n: usize| {
            (0..n)
                .map(|i| format!("k{i}=v"))
                .collect::<Vec<_>>()
                .join(",")
        };
        assert!(matches!(
            mark_one(&members(MAX_MEMBERS - 1), member),
            Marked::Merged(_)
        ));
        assert_eq!(mark_one(&members(MAX_MEMBERS), member), Marked::NotMarked);
        assert_eq!(mark_one(&members(1000), member), Marked::NotMarked);
        // Short lists are within the member limit whatever their commas.
        assert_eq!(
            mark_one("a=1,,b=2", member),
            Marked::Merged("a=1,,b=2,traffic-mirror=canary".into())
        );
        let commas = "a".to_string() + &",a".repeat(MAX_MEMBERS - 1);
        assert_eq!(mark_one(&commas, member), Marked::NotMarked);
        assert!(matches!(mark_one(&commas[2..], member), Marked::Merged(_)));
        // Members over several headers count together.
        let half = members(MAX_MEMBERS / 2);
        assert_eq!(
            mark([half.as_str(), half.as_str()].into_iter(), member),
            Marked::NotMarked
        );
        let fewer = members(MAX_MEMBERS / 2 - 1);
        assert!(matches!(
            mark([half.as_str(), fewer.as_str()].into_iter(), member),
            Marked::Merged(_)
        ));
    }

    #[test]
    fn a_thousand_members_are_scanned_once() {
        let mut value: String = (0..1000).map(|i| format!("k{i}=v,")).collect();
        assert!(!has_member(value.as_bytes(), KEY));
        value.push_str("traffic-mirror=c");
        assert!(has_member(value.as_bytes(), KEY));
    }
}
