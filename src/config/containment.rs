//! The settings that keep copies visible and contained beyond the first hop
//! (docs/copies.md, docs/tracing.md): the baggage marker, refused writes, each target's
//! trace sampling, copy log and same-cluster guard.

use super::fields::{Bounds, Field, FieldDefault, Fields, Unit, Whole};
use super::Target;
use crate::http::is_token_char;
use crate::tracing::Sampled;
use serde_json::Value;

pub const DEFAULT_MARKER_BAGGAGE: &str = "traffic-mirror";
/// A copy log of a hundred lines a second per worker is already more than a log pipeline
/// should take from one sidecar.
pub const MAX_COPY_LOG_PER_MINUTE: u64 = 6000;
const MAX_BAGGAGE_KEY_LEN: usize = 64;
const PER_MINUTE: Whole = Whole::new(0, MAX_COPY_LOG_PER_MINUTE, Unit::Count).min_means("off");

/// The top-level fields of this concern (in `CONFIG_FIELDS`).
pub const MARKER_BAGGAGE_FIELD: Field = Field::new("marker_baggage")
    .default(FieldDefault::Text(DEFAULT_MARKER_BAGGAGE))
    .bounds(Bounds::Characters {
        min: 0,
        max: MAX_BAGGAGE_KEY_LEN,
    });
pub const REFUSE_MARKED_WRITES_FIELD: Field =
    Field::new("refuse_marked_writes").default(FieldDefault::Bool(false));

/// A target's fields of this concern (in `TARGET_FIELDS`).
pub const TRACING_FIELD: Field = Field::new("tracing");
pub const COPY_LOG_FIELD: Field = Field::new("copy_log");
pub const ALLOW_SAME_CLUSTER_FIELD: Field =
    Field::new("allow_same_cluster").default(FieldDefault::Bool(false));

/// The fields of a target's `tracing`.
pub const TRACING_FIELDS: &[Field] =
    &[Field::new("sampled").default(FieldDefault::Text("inherit"))];

/// The fields of a target's `copy_log`.
pub const COPY_LOG_FIELDS: &[Field] = &[Field::new("per_minute")
    .default(FieldDefault::Whole(0))
    .bounds(Bounds::Whole(PER_MINUTE))];

/// The top-level fields: the baggage member's key, and whether marked writes are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Containment {
    /// `None` when the user turned the baggage marker off with `""`.
    pub marker_baggage: Option<String>,
    pub refuse_marked_writes: bool,
}

pub fn containment(fields: &Fields) -> Result<Containment, String> {
    let marker_baggage = fields.scalar(
        "marker_baggage",
        "a W3C baggage key (1 to 64 characters of an HTTP token, case kept), or \"\" to turn \
         the baggage marker off",
        |v| match v.as_str() {
            Some("") => Some(None),
            Some(key) if key.len() <= MAX_BAGGAGE_KEY_LEN && key.chars().all(is_token_char) => {
                Some(Some(key.to_string()))
            }
            _ => None,
        },
    )?;
    Ok(Containment {
        marker_baggage: marker_baggage.unwrap_or_else(|| Some(DEFAULT_MARKER_BAGGAGE.into())),
        refuse_marked_writes: fields
            .scalar("refuse_marked_writes", "true or false", Value::as_bool)?
            .unwrap_or(false),
    })
}

/// A target's fields of this concern.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetContainment {
    /// `tracing.sampled`.
    pub sampled: Sampled,
    /// `copy_log.per_minute`; 0 is off.
    pub copy_log_per_minute: u32,
    pub allow_same_cluster: bool,
    /// The service a target names with `service` and no `subset`: a request addressed to it
    /// is the service itself, never a copy's destination (unless `allow_same_cluster`).
    pub same_service: Option<String>,
    /// `<marker_baggage>=<name>`, the member its copies carry (none when turned off).
    pub baggage_member: Option<String>,
}

pub fn target_containment(fields: &Fields) -> Result<TargetContainment, String> {
    Ok(TargetContainment {
        sampled: fields.nested("tracing", tracing)?.unwrap_or_default(),
        copy_log_per_minute: fields.nested("copy_log", copy_log)?.unwrap_or(0),
        allow_same_cluster: fields
            .scalar("allow_same_cluster", "true or false", Value::as_bool)?
            .unwrap_or(false),
        same_service: None,
        baggage_member: None,
    })
}

fn tracing(value: &Value, place: &str) -> Result<Sampled, String> {
    let fields = Fields::of(value, place, "an object with `sampled`", TRACING_FIELDS)?;
    Ok(fields
        .scalar("sampled", "\"inherit\" or \"never\"", |v| {
            v.as_str().and_then(Sampled::parse)
        })?
        .unwrap_or_default())
}

fn copy_log(value: &Value, place: &str) -> Result<u32, String> {
    let fields = Fields::of(value, place, "an object with `per_minute`", COPY_LOG_FIELDS)?;
    Ok(fields.whole("per_minute", &PER_MINUTE)?.unwrap_or(0))
}

/// Once every target is read: the member each target's copies carry.
pub fn name_members(targets: &mut [Target], marker_baggage: Option<&str>) {
    for target in targets {
        target.containment.baggage_member =
            marker_baggage.map(|key| format!("{key}={}", target.name));
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::tracing::Sampled;

    fn parse(json: &str) -> Result<Config, String> {
        Config::parse(json.as_bytes()).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_mark_with_baggage_and_change_nothing_else() {
        let config = parse(r#"{"targets": [{"cluster": "m", "name": "canary"}]}"#).unwrap();
        assert_eq!(
            config.containment.marker_baggage.as_deref(),
            Some("traffic-mirror")
        );
        assert!(!config.containment.refuse_marked_writes);
        let target = &config.targets[0].containment;
        assert_eq!(target.sampled, Sampled::Inherit);
        assert_eq!(target.copy_log_per_minute, 0);
        assert!(!target.allow_same_cluster);
        assert_eq!(target.same_service, None);
        assert_eq!(
            target.baggage_member.as_deref(),
            Some("traffic-mirror=canary")
        );
    }

    #[test]
    fn every_field_is_read_as_written() {
        let config = parse(
            r#"{"marker_baggage": "Shadow_Of", "refuse_marked_writes": true, "targets": [
                {"service": "users.prod.svc.cluster.local", "port": 80, "name": "u",
                 "tracing": {"sampled": "never"}, "copy_log": {"per_minute": 60.0},
                 "allow_same_cluster": true},
                {"service": "users.prod.svc.cluster.local", "port": 80, "subset": "v2", "name": "v2"}]}"#,
        )
        .unwrap();
        assert!(config.containment.refuse_marked_writes);
        let first = &config.targets[0].containment;
        assert_eq!(first.sampled, Sampled::Never);
        assert_eq!(first.copy_log_per_minute, 60);
        assert!(first.allow_same_cluster);
        assert_eq!(
            first.same_service.as_deref(),
            Some("users.prod.svc.cluster.local")
        );
        assert_eq!(first.baggage_member.as_deref(), Some("Shadow_Of=u"));
        assert_eq!(
            config.targets[1].containment.same_service, None,
            "a subset is another deployment"
        );
        let off = parse(r#"{"marker_baggage": "", "targets": [{"cluster": "m"}]}"#).unwrap();
        assert_eq!(off.containment.marker_baggage, None);
        assert_eq!(off.targets[0].containment.baggage_member, None);
    }

    #[test]
    fn bad_values_name_their_field_and_what_it_allows() {
        let cases = [
            (
                r#""marker_baggage": "a b""#,
                "`marker_baggage` must be a W3C baggage key",
            ),
            (r#""marker_baggage": 1"#, "`marker_baggage` must be"),
            (
                r#""refuse_marked_writes": "yes""#,
                "`refuse_marked_writes` must be true or false",
            ),
        ];
        for (field, expected) in cases {
            let error =
                parse(&format!(r#"{{{field}, "targets": [{{"cluster": "m"}}]}}"#)).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
        let target_cases = [
            (
                r#""tracing": {"sampled": "always"}"#,
                "targets[0]: tracing: `sampled` must be \"inherit\" or \"never\"",
            ),
            (
                r#""tracing": {"rate": 1}"#,
                "targets[0]: tracing: unknown field `rate`",
            ),
            (
                r#""copy_log": {"per_minute": 6001}"#,
                "targets[0]: copy_log: `per_minute` must be a whole number",
            ),
            (r#""copy_log": {"per_minute": -1}"#, "`per_minute` must be"),
            (
                r#""allow_same_cluster": 1"#,
                "targets[0]: `allow_same_cluster` must be true or false",
            ),
        ];
        for (field, expected) in target_cases {
            let error =
                parse(&format!(r#"{{"targets": [{{"cluster": "m", {field}}}]}}"#)).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
    }
}
