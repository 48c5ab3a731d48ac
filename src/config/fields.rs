//! How the configuration is read: one JSON object at a time, against the table of the fields
//! it may hold (their names, defaults and bounds), which also makes the unknown-field errors
//! and what tools/check-config can list.

use serde_json::Value;

/// A field of a configuration object, as the parser knows it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Field {
    pub name: &'static str,
    /// What the field is when it is absent.
    pub default: FieldDefault,
    pub bounds: Bounds,
}

impl Field {
    /// A field with no default and no bounds.
    pub const fn new(name: &'static str) -> Field {
        Field {
            name,
            default: FieldDefault::None,
            bounds: Bounds::None,
        }
    }

    pub const fn default(self, default: FieldDefault) -> Field {
        Field { default, ..self }
    }

    pub const fn bounds(self, bounds: Bounds) -> Field {
        Field { bounds, ..self }
    }
}

/// A field's value when absent, as a user would write it in the configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FieldDefault {
    /// The configuration must give it.
    Required,
    /// Absent is not a value: what the field configures is off, derived from another field
    /// (a target's `name`), or the field is an object whose own fields have the defaults.
    None,
    Bool(bool),
    Whole(u64),
    Number(f64),
    Text(&'static str),
    /// A list of strings (`&[]`: an empty list).
    Texts(&'static [&'static str]),
}

/// What a field allows beyond its type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bounds {
    None,
    /// A whole number (JSON Schema's `integer`; `5000.0` counts as 5000).
    Whole(Whole),
    /// A number from `min` (excluded when `min_excluded`) to `max`, both included otherwise.
    Number {
        min: f64,
        min_excluded: bool,
        max: f64,
    },
    /// A list of `min` to `max` items.
    Items {
        min: usize,
        max: usize,
    },
    /// A string of `min` to `max` characters.
    Characters {
        min: usize,
        max: usize,
    },
}

/// A bounded whole number: the parser reads it with `Fields::whole`, whose error states the
/// bounds from here, e.g. "a whole number of bytes from 0 to 67108864 (64 MiB)".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Whole {
    pub min: u64,
    pub max: u64,
    pub unit: Unit,
    /// What the minimum means, when it turns something off, e.g. "no summary".
    pub min_means: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
    Milliseconds,
    Seconds,
    Copies,
    Port,
}

impl Whole {
    pub const fn new(min: u64, max: u64, unit: Unit) -> Whole {
        Whole {
            min,
            max,
            unit,
            min_means: None,
        }
    }

    pub const fn min_means(self, meaning: &'static str) -> Whole {
        Whole {
            min_means: Some(meaning),
            ..self
        }
    }

    pub fn contains(&self, n: u64) -> bool {
        (self.min..=self.max).contains(&n)
    }

    /// What the field allows, for its error message.
    pub fn allowed(&self) -> String {
        let noun = match self.unit {
            Unit::Count => "a whole number",
            Unit::Bytes => "a whole number of bytes",
            Unit::Milliseconds => "a whole number of milliseconds",
            Unit::Seconds => "a whole number of seconds",
            Unit::Copies => "a whole number of copies",
            Unit::Port => "a port number",
        };
        let min_means = self
            .min_means
            .map(|meaning| format!(" ({meaning})"))
            .unwrap_or_default();
        format!(
            "{noun} from {}{min_means} to {}",
            self.amount(self.min),
            self.amount(self.max)
        )
    }

    /// `n`, with its size in KiB or MiB when it counts bytes, e.g. "65536 (64 KiB)".
    fn amount(&self, n: u64) -> String {
        const KIB: u64 = 1 << 10;
        const MIB: u64 = 1 << 20;
        match self.unit {
            Unit::Bytes if n > 0 && n % MIB == 0 => format!("{n} ({} MiB)", n / MIB),
            Unit::Bytes if n > 0 && n % KIB == 0 => format!("{n} ({} KiB)", n / KIB),
            _ => n.to_string(),
        }
    }
}

/// An object of the configuration, read field by field. Like serde's `deny_unknown_fields`,
/// a field it does not know is an error. `null` is a value like any other (and the wrong type
/// for every field), as in the JSON Schema (envoy/plugin-config.schema.json).
pub(super) struct Fields<'a> {
    map: &'a serde_json::Map<String, Value>,
    /// Where the object is, as an error prefix: "" or e.g. "targets[1]: limits: ".
    place: &'a str,
    known: &'static [Field],
}

impl<'a> Fields<'a> {
    pub(super) fn of(
        value: &'a Value,
        place: &'a str,
        expecting: &str,
        known: &'static [Field],
    ) -> Result<Fields<'a>, String> {
        let map = value.as_object().ok_or_else(|| {
            format!(
                "{place}invalid type: {}, expected {expecting}",
                describe(value)
            )
        })?;
        if let Some(unknown) = map
            .keys()
            .find(|key| !known.iter().any(|field| field.name == key.as_str()))
        {
            let known: Vec<String> = known.iter().map(|f| format!("`{}`", f.name)).collect();
            return Err(format!(
                "{place}unknown field `{unknown}`, expected one of {}",
                known.join(", ")
            ));
        }
        Ok(Fields { map, place, known })
    }

    pub(super) fn get(&self, name: &str) -> Option<&'a Value> {
        debug_assert!(
            self.known.iter().any(|field| field.name == name),
            "`{name}` is read but missing from its section's table"
        );
        self.map.get(name)
    }

    pub(super) fn required(&self, name: &str) -> Result<&'a Value, String> {
        self.get(name)
            .ok_or_else(|| format!("{}missing field `{name}`", self.place))
    }

    /// A scalar (or list) field checked by `parse`; the error names the field and what it
    /// allows, e.g. "`percentage` must be a number from 0 to 100, got "50"".
    pub(super) fn scalar<T>(
        &self,
        name: &str,
        allowed: &str,
        parse: impl Fn(&Value) -> Option<T>,
    ) -> Result<Option<T>, String> {
        self.get(name)
            .map(|value| {
                parse(value).ok_or_else(|| {
                    format!(
                        "{}`{name}` must be {allowed}, got {}",
                        self.place,
                        describe(value)
                    )
                })
            })
            .transpose()
    }

    pub(super) fn required_scalar<T>(
        &self,
        name: &str,
        allowed: &str,
        parse: impl Fn(&Value) -> Option<T>,
    ) -> Result<T, String> {
        self.scalar(name, allowed, parse)?
            .ok_or_else(|| format!("{}missing field `{name}`", self.place))
    }

    /// A whole number within `range`, as a `T` (the range fits it: else the field is refused).
    pub(super) fn whole<T: TryFrom<u64>>(
        &self,
        name: &str,
        range: &Whole,
    ) -> Result<Option<T>, String> {
        self.scalar(name, &range.allowed(), |v| {
            whole_number(v)
                .filter(|n| range.contains(*n))
                .and_then(|n| T::try_from(n).ok())
        })
    }

    /// An object field, read by `read` with its place named in errors.
    pub(super) fn nested<T>(
        &self,
        name: &str,
        read: impl FnOnce(&Value, &str) -> Result<T, String>,
    ) -> Result<Option<T>, String> {
        self.get(name)
            .map(|value| read(value, &format!("{}{name}: ", self.place)))
            .transpose()
    }
}

/// A list of strings, each checked by `item`.
pub(super) fn strings<T>(value: &Value, item: impl Fn(&str) -> Option<T>) -> Option<Vec<T>> {
    value
        .as_array()?
        .iter()
        .map(|v| item(v.as_str()?))
        .collect()
}

/// Entries of a list compared with every request (`redact.headers`, `redact.query_params`,
/// `redact.json_fields`, `compare.ignore_json_fields`): the work per request grows with them.
pub const MAX_LIST_ENTRIES: usize = 256;

/// Levels of a dot path (`users.*.ssn` has three): the automaton's states grow with them.
pub const MAX_PATH_LEVELS: usize = 32;

/// The bounds of such a list, as the field tables state them.
pub const LIST_BOUNDS: Bounds = Bounds::Items {
    min: 0,
    max: MAX_LIST_ENTRIES,
};

/// A list of at most `MAX_LIST_ENTRIES` strings, each checked by `item` (the length is checked
/// first: a list of a million names costs one comparison).
pub(super) fn bounded_strings<T>(
    value: &Value,
    item: impl Fn(&str) -> Option<T>,
) -> Option<Vec<T>> {
    let entries = value.as_array()?;
    if entries.len() > MAX_LIST_ENTRIES {
        return None;
    }
    strings(value, item)
}

/// Whether the dot path `text` has at most `MAX_PATH_LEVELS` levels.
pub(super) fn within_path_levels(text: &str) -> bool {
    text.split('.').count() <= MAX_PATH_LEVELS
}

/// Istio hands `pluginConfig` over as a protobuf Struct, where every number is a double:
/// `5000.0` has to mean 5000.
fn whole_number(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        let float = value.as_f64()?;
        let exact = float.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&float);
        exact.then_some(float as u64)
    })
}

/// The offending value, as JSON and short enough for one log line.
pub(super) fn describe(value: &Value) -> String {
    const LIMIT: usize = 60;
    let text = value.to_string();
    if text.chars().count() <= LIMIT {
        return text;
    }
    let mut short: String = text.chars().take(LIMIT).collect();
    short.push_str("...");
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_ranges_state_their_bounds_as_the_errors_always_did() {
        let cases = [
            (
                Whole::new(0, 64 << 20, Unit::Bytes),
                "a whole number of bytes from 0 to 67108864 (64 MiB)",
            ),
            (
                Whole::new(64 << 10, 256 << 20, Unit::Bytes),
                "a whole number of bytes from 65536 (64 KiB) to 268435456 (256 MiB)",
            ),
            (
                Whole::new(0, 86_400, Unit::Seconds).min_means("no summary"),
                "a whole number of seconds from 0 (no summary) to 86400",
            ),
            (
                Whole::new(1, 65_535, Unit::Port),
                "a port number from 1 to 65535",
            ),
            (
                Whole::new(1, 10, Unit::Count),
                "a whole number from 1 to 10",
            ),
        ];
        for (range, allowed) in cases {
            assert_eq!(range.allowed(), allowed);
        }
    }

    #[test]
    fn a_whole_number_may_be_written_as_a_whole_double() {
        assert_eq!(whole_number(&serde_json::json!(250.0)), Some(250));
        assert_eq!(whole_number(&serde_json::json!(1.5)), None);
        assert_eq!(whole_number(&serde_json::json!(-1)), None);
        assert_eq!(whole_number(&serde_json::json!("1")), None);
    }
}
