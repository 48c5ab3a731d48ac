//! The ~2 KB JSON documents the comparison scenarios answer with (`make profile`'s
//! `plugin_mirror_json`, `plugin_compare`, `plugin_compare_reordered`). Also read by
//! tools/callback-cost (`--replay`, through `#[path]`), so that both measure the same pair.

/// How a `_json` listener writes the ~2 KB document it answers with (the comparison
/// scenarios): the same values every time, so every comparison is a match, but not the same
/// bytes, so the comparison really reads both bodies (equal bytes are compared as such).
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// The primary's: no spaces.
    Compact,
    /// The same members in the same order, with spaces and `.50` for `.5`: what another build
    /// of the same service writes (the diff's fast path, which reads both bodies side by side).
    Spaced,
    /// The members in another order as well (the diff parses and walks both documents).
    Reordered,
}

pub fn json_document(shape: Shape) -> String {
    let item = |i: u32| match shape {
        Shape::Compact => format!(
            r#"{{"id":{i},"name":"item-{i}","price":{i}.5,"tags":["new","sale"],"stock":{{"warehouse":"eu-1","count":{}}}}}"#,
            i * 3
        ),
        Shape::Spaced => format!(
            r#"{{ "id": {i}, "name": "item-{i}", "price": {i}.50, "tags": ["new", "sale"], "stock": {{"warehouse": "eu-1", "count": {}}} }}"#,
            i * 3
        ),
        Shape::Reordered => format!(
            r#"{{ "stock": {{"count": {}, "warehouse": "eu-1"}}, "tags": ["new", "sale"], "price": {i}.50, "name": "item-{i}", "id": {i} }}"#,
            i * 3
        ),
    };
    let items: Vec<String> = (0..20).map(item).collect();
    match shape {
        Shape::Compact => format!(r#"{{"items":[{}],"total":20,"page":1}}"#, items.join(",")),
        Shape::Spaced => format!(
            r#"{{"items": [{}], "total": 20, "page": 1}}"#,
            items.join(", ")
        ),
        Shape::Reordered => format!(
            r#"{{"page": 1, "total": 20, "items": [{}]}}"#,
            items.join(", ")
        ),
    }
}
