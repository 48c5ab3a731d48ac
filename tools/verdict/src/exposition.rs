//! Prometheus' text exposition format (version 0.0.4), as Envoy's admin `/stats/prometheus`
//! writes it: `# TYPE`/`# HELP` comments, then `name{label="value",...} value [timestamp]`.
//! Label values are quoted, with `\\`, `\"` and `\n` escaped: the plugin's endpoints and
//! fields (`GET /q"uote`, `$.a\b`) must come back as they were emitted.

use crate::sample::{Labels, Sample};

/// Every sample of an exposition, or the first line that is not valid.
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut samples = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let sample = parse_line(line).map_err(|error| format!("line {}: {error}", index + 1))?;
        samples.push(sample);
    }
    Ok(samples)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit()
}

/// A cursor over one line.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.rest = &self.rest[c.len_utf8()..];
        Some(c)
    }

    fn skip_spaces(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t']);
    }

    /// A metric or label name: `[a-zA-Z_:][a-zA-Z0-9_:]*` (label names have no `:`, which
    /// only matters to whoever emits them).
    fn name(&mut self, what: &str) -> Result<&'a str, String> {
        let end = self
            .rest
            .char_indices()
            .find(|&(i, c)| {
                !(if i == 0 {
                    is_name_start(c)
                } else {
                    is_name_char(c)
                })
            })
            .map_or(self.rest.len(), |(i, _)| i);
        if end == 0 {
            return Err(format!("expected a {what} at {:?}", excerpt(self.rest)));
        }
        let (name, rest) = self.rest.split_at(end);
        self.rest = rest;
        Ok(name)
    }

    fn expect(&mut self, wanted: char) -> Result<(), String> {
        match self.bump() {
            Some(c) if c == wanted => Ok(()),
            Some(c) => Err(format!("expected {wanted:?}, found {c:?}")),
            None => Err(format!("expected {wanted:?}, found the end of the line")),
        }
    }

    /// A quoted label value, unescaped.
    fn quoted(&mut self) -> Result<String, String> {
        self.expect('"')?;
        let mut value = String::new();
        loop {
            match self.bump() {
                None => return Err("unterminated label value".into()),
                Some('"') => return Ok(value),
                Some('\\') => match self.bump() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    // As Prometheus reads them: any other escape is kept as written.
                    Some(other) => {
                        value.push('\\');
                        value.push(other);
                    }
                    None => return Err("unterminated label value".into()),
                },
                Some(c) => value.push(c),
            }
        }
    }

    /// `{name="value",...}`, a trailing comma allowed, as the format allows.
    fn labels(&mut self) -> Result<Labels, String> {
        let mut labels = Labels::new();
        self.expect('{')?;
        loop {
            self.skip_spaces();
            if self.peek() == Some('}') {
                self.bump();
                return Ok(labels);
            }
            let name = self.name("label name")?;
            self.skip_spaces();
            self.expect('=')?;
            self.skip_spaces();
            let value = self.quoted()?;
            if labels.insert(name.to_string(), value).is_some() {
                return Err(format!("label {name:?} given twice"));
            }
            self.skip_spaces();
            match self.bump() {
                Some(',') => continue,
                Some('}') => return Ok(labels),
                Some(c) => return Err(format!("expected ',' or '}}' after a label, found {c:?}")),
                None => return Err("unterminated label set".into()),
            }
        }
    }
}

fn excerpt(text: &str) -> String {
    text.chars().take(20).collect()
}

fn parse_line(line: &str) -> Result<Sample, String> {
    let mut cursor = Cursor { rest: line };
    let name = cursor.name("metric name")?.to_string();
    let labels = if cursor.peek() == Some('{') {
        cursor.labels()?
    } else {
        Labels::new()
    };
    let rest = cursor.rest;
    if !rest.starts_with([' ', '\t']) {
        return Err(format!("expected a space and a value after {name}"));
    }
    let mut fields = rest.split_whitespace();
    let value = fields
        .next()
        .ok_or_else(|| format!("no value for {name}"))?;
    let value = parse_value(value).ok_or_else(|| format!("{value:?} is not a number"))?;
    if let Some(timestamp) = fields.next() {
        if timestamp.parse::<i64>().is_err() {
            return Err(format!("{timestamp:?} is not a timestamp"));
        }
    }
    if let Some(extra) = fields.next() {
        return Err(format!("unexpected {extra:?} after the value"));
    }
    Ok(Sample {
        name,
        labels,
        value,
    })
}

/// A sample value: a float, or `NaN`, `+Inf`, `-Inf` as Go writes them.
pub fn parse_value(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        // Rust would also take "inf" and "infinity", which the format does not.
        _ if text
            .chars()
            .any(|c| c.is_ascii_alphabetic() && c != 'e' && c != 'E') =>
        {
            None
        }
        _ => text.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Envoy 1.40's output for the plugin's stats, as measured (see contract.rs).
    const ENVOY: &str = r#"# TYPE traffic_mirror_endpoint_compared counter
traffic_mirror_endpoint_compared{mirror_target="canary",endpoint="GET /users/{}"} 24
traffic_mirror_endpoint_compared{mirror_target="canary",endpoint="other"} 10

# TYPE traffic_mirror_field_noise counter
traffic_mirror_field_noise{mirror_target="canary",endpoint="GET /q\"uote\\back",field="status"} 2
envoy_wasm_remote_load_fetch_successes{} 0
"#;

    #[test]
    fn reads_envoy_s_output_with_its_escapes() {
        let samples = parse(ENVOY).unwrap();
        assert_eq!(samples.len(), 4);
        assert_eq!(samples[0].name, "traffic_mirror_endpoint_compared");
        assert_eq!(
            samples[0].labels,
            labels(&[("mirror_target", "canary"), ("endpoint", "GET /users/{}")])
        );
        assert_eq!(samples[0].value, 24.0);
        assert_eq!(samples[2].label("endpoint"), "GET /q\"uote\\back");
        assert_eq!(samples[2].label("field"), "status");
        assert!(samples[3].labels.is_empty());
    }

    #[test]
    fn reads_what_the_format_allows_beyond_envoy() {
        let text =
            "a 1 1700000000000\nb{x=\"line\\nbreak\",} +Inf\nc{ y = \"}{,=\" } -2.5e3\nd NaN\n";
        let samples = parse(text).unwrap();
        assert_eq!(samples[0].value, 1.0);
        assert_eq!(samples[1].label("x"), "line\nbreak");
        assert!(samples[1].value.is_infinite());
        assert_eq!(samples[2].label("y"), "}{,=");
        assert_eq!(samples[2].value, -2500.0);
        assert!(samples[3].value.is_nan());
        let kept = parse("a{x=\"\\t\"} 1").unwrap();
        assert_eq!(
            kept[0].label("x"),
            "\\t",
            "other escapes are kept, as Prometheus keeps them"
        );
    }

    #[test]
    fn refuses_malformed_lines_naming_the_line() {
        let cases = [
            ("a{x=\"1\"} 1\nb{x=\"unterminated} 1\n", "line 2"),
            ("a{x=\"1\" 1", "expected ','"),
            ("a{x=1} 1", "expected '\"'"),
            ("a{x=\"1\"}", "expected a space"),
            ("a{x=\"1\"} ", "expected a space"),
            ("a 1.2.3", "not a number"),
            ("a inf", "not a number"),
            ("a 1 12.5", "not a timestamp"),
            ("a 1 2 3", "unexpected"),
            ("9a 1", "metric name"),
            ("a{=\"1\"} 1", "label name"),
            ("a{x=\"1\",x=\"2\"} 1", "given twice"),
            ("a{x=\"1\\", "unterminated"),
            ("a{x=\"1\"", "unterminated label set"),
        ];
        for (text, wanted) in cases {
            let error = parse(text).unwrap_err();
            assert!(error.contains(wanted), "{text:?}: {error}");
        }
    }
}
