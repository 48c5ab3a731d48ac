//! Match rules: which requests a target (or the whole plugin) copies at all.

use crate::http::HeaderMap;

/// All given conditions must hold; an empty list does not constrain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Match {
    /// Any of these, compared exactly (`GET` is not `get`).
    pub methods: Vec<String>,
    /// The `:path` (with its query) starts with any of these.
    pub path_prefixes: Vec<String>,
    /// Every one of these holds.
    pub headers: Vec<HeaderCondition>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderCondition {
    /// Some value of the header is exactly this.
    Exact { name: String, value: String },
    /// The header is there (`true`) or not (`false`).
    Present { name: String, present: bool },
}

impl Match {
    pub fn matches(&self, head: &HeaderMap) -> bool {
        let method = head.get(":method").unwrap_or_default();
        let path = head.get(":path").unwrap_or_default();
        (self.methods.is_empty() || self.methods.iter().any(|m| m.as_bytes() == method))
            && (self.path_prefixes.is_empty()
                || self
                    .path_prefixes
                    .iter()
                    .any(|prefix| path.starts_with(prefix.as_bytes())))
            && self.headers.iter().all(|condition| condition.holds(head))
    }
}

impl HeaderCondition {
    fn holds(&self, head: &HeaderMap) -> bool {
        match self {
            HeaderCondition::Exact { name, value } => {
                head.values(name).any(|actual| actual == value.as_bytes())
            }
            HeaderCondition::Present { name, present } => head.get(name).is_some() == *present,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HeaderMap;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        HeaderMap::from_pairs(pairs.iter().map(|(n, v)| (*n, v.as_bytes())))
    }

    fn request() -> HeaderMap {
        headers(&[
            (":method", "GET"),
            (":path", "/api/users?id=1"),
            ("x-env", "staging"),
            ("x-env", "prod"),
            ("x-empty", ""),
        ])
    }

    fn rule(methods: &[&str], prefixes: &[&str], conditions: Vec<HeaderCondition>) -> Match {
        Match {
            methods: methods.iter().map(|m| m.to_string()).collect(),
            path_prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
            headers: conditions,
        }
    }

    fn exact(name: &str, value: &str) -> HeaderCondition {
        HeaderCondition::Exact {
            name: name.into(),
            value: value.into(),
        }
    }

    fn present(name: &str, present: bool) -> HeaderCondition {
        HeaderCondition::Present {
            name: name.into(),
            present,
        }
    }

    #[test]
    fn empty_rule_matches_everything() {
        let request = request();
        assert!(Match::default().matches(&request));
        assert!(Match::default().matches(&HeaderMap::default()));
    }

    #[test]
    fn methods_are_any_of_and_exact() {
        let request = request();
        let head = request;
        assert!(rule(&["POST", "GET"], &[], vec![]).matches(&head));
        assert!(!rule(&["POST"], &[], vec![]).matches(&head));
        assert!(!rule(&["get"], &[], vec![]).matches(&head));
    }

    #[test]
    fn path_prefixes_are_any_of() {
        let request = request();
        let head = request;
        assert!(rule(&[], &["/health", "/api/"], vec![]).matches(&head));
        assert!(rule(&[], &["/api/users?id"], vec![]).matches(&head));
        assert!(!rule(&[], &["/apix"], vec![]).matches(&head));
    }

    #[test]
    fn header_conditions_all_hold() {
        let request = request();
        let head = request;
        assert!(
            rule(&[], &[], vec![exact("x-env", "prod")]).matches(&head),
            "any value"
        );
        assert!(!rule(&[], &[], vec![exact("x-env", "Prod")]).matches(&head));
        assert!(rule(&[], &[], vec![exact("x-empty", "")]).matches(&head));
        assert!(rule(
            &[],
            &[],
            vec![present("x-debug", false), present("x-empty", true)]
        )
        .matches(&head));
        assert!(!rule(
            &[],
            &[],
            vec![exact("x-env", "prod"), present("x-env", false)]
        )
        .matches(&head));
    }

    #[test]
    fn every_kind_of_condition_must_hold_together() {
        let request = request();
        let head = request;
        assert!(rule(&["GET"], &["/api/"], vec![exact("x-env", "prod")]).matches(&head));
        assert!(!rule(&["GET"], &["/other/"], vec![exact("x-env", "prod")]).matches(&head));
    }
}
