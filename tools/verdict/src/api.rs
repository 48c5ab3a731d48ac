//! Prometheus' HTTP API answer to an instant query (`/api/v1/query`): a vector of series, each
//! `{"metric": {labels}, "value": [time, "number"]}`, or a scalar `[time, "number"]`.

use crate::exposition::parse_value;
use crate::sample::{Labels, Sample};
use serde_json::Value;

/// The samples of an instant query's answer (a scalar is one sample without labels), or why
/// the answer is not one.
pub fn parse(body: &str) -> Result<Vec<Sample>, String> {
    let document: Value = serde_json::from_str(body)
        .map_err(|error| format!("Prometheus' answer is not JSON: {error}"))?;
    match document.get("status").and_then(Value::as_str) {
        Some("success") => {}
        Some("error") => {
            let kind = document
                .get("errorType")
                .and_then(Value::as_str)
                .unwrap_or("");
            let error = document.get("error").and_then(Value::as_str).unwrap_or("");
            return Err(format!("Prometheus refused the query: {kind}: {error}"));
        }
        _ => return Err("Prometheus' answer has no status".into()),
    }
    let data = document
        .get("data")
        .ok_or("Prometheus' answer has no data")?;
    let result = data
        .get("result")
        .ok_or("Prometheus' answer has no result")?;
    match data.get("resultType").and_then(Value::as_str) {
        Some("vector") => result
            .as_array()
            .ok_or("a vector result that is not an array")?
            .iter()
            .map(series)
            .collect(),
        Some("scalar") => Ok(vec![Sample {
            name: String::new(),
            labels: Labels::new(),
            value: point(result)?,
        }]),
        Some(other) => Err(format!("expected an instant vector, got a {other}")),
        None => Err("Prometheus' answer has no resultType".into()),
    }
}

fn series(element: &Value) -> Result<Sample, String> {
    let metric = element
        .get("metric")
        .and_then(Value::as_object)
        .ok_or("a series without its labels")?;
    let mut labels = Labels::new();
    for (name, value) in metric {
        let value = value
            .as_str()
            .ok_or_else(|| format!("label {name} is not a string"))?;
        labels.insert(name.clone(), value.to_string());
    }
    let name = labels.remove("__name__").unwrap_or_default();
    let value = point(element.get("value").ok_or("a series without a value")?)?;
    Ok(Sample {
        name,
        labels,
        value,
    })
}

/// `[1700000000.123, "42"]`: the number is a string, so that NaN and Inf survive JSON.
fn point(value: &Value) -> Result<f64, String> {
    let pair = value.as_array().filter(|pair| pair.len() == 2);
    let text = pair
        .and_then(|pair| pair[1].as_str())
        .ok_or_else(|| format!("{value} is not a [time, \"value\"] pair"))?;
    parse_value(text).ok_or_else(|| format!("{text:?} is not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_vector_with_its_labels() {
        let body = r#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"mirror_target":"canary","endpoint":"GET /q\"uote","field":"$.a"},"value":[1700000000.5,"12.5"]},
            {"metric":{"__name__":"up","job":"envoy"},"value":[1700000000.5,"NaN"]}]}}"#;
        let samples = parse(body).unwrap();
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].label("endpoint"), "GET /q\"uote");
        assert_eq!(samples[0].value, 12.5);
        assert_eq!(samples[1].name, "up");
        assert!(!samples[1].labels.contains_key("__name__"));
        assert!(samples[1].value.is_nan());
    }

    #[test]
    fn reads_a_scalar_and_an_empty_vector() {
        let scalar = r#"{"status":"success","data":{"resultType":"scalar","result":[1.0,"2"]}}"#;
        assert_eq!(parse(scalar).unwrap()[0].value, 2.0);
        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(parse(empty).unwrap().is_empty());
    }

    #[test]
    fn refuses_errors_and_malformed_answers() {
        let cases = [
            ("not json", "not JSON"),
            (
                r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#,
                "bad_data: parse error",
            ),
            (r#"{"data":{}}"#, "no status"),
            (r#"{"status":"success"}"#, "no data"),
            (
                r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#,
                "got a matrix",
            ),
            (
                r#"{"status":"success","data":{"resultType":"vector","result":{}}}"#,
                "not an array",
            ),
            (
                r#"{"status":"success","data":{"resultType":"vector","result":[{"value":[1,"1"]}]}}"#,
                "without its labels",
            ),
            (
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":1},"value":[1,"1"]}]}}"#,
                "not a string",
            ),
            (
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{}}]}}"#,
                "without a value",
            ),
            (
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,2]}]}}"#,
                "pair",
            ),
            (
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"x"]}]}}"#,
                "not a number",
            ),
        ];
        for (body, wanted) in cases {
            let error = parse(body).unwrap_err();
            assert!(error.contains(wanted), "{body}: {error}");
        }
    }
}
