//! Building blocks of Envoy bootstraps (as JSON), shared by the tests and the benchmark.

use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;

/// `127.0.0.1:0`: Envoy picks a free port.
pub fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

pub fn socket(addr: SocketAddr) -> Value {
    json!({"socket_address": {"address": addr.ip().to_string(), "port_value": addr.port()}})
}

/// The tag rule of envoy/envoy.yaml: it moves the target's name out of the plugin's metric
/// names into a `mirror_target` tag, so Prometheus sees `traffic_mirror_mirrored{mirror_target="canary"}`.
pub const MIRROR_TARGET_TAG_REGEX: &str = r"^wasmcustom\.traffic_mirror\.(([^.]+)\.)[a-z0-9_]+$";

/// The tag rules of envoy/envoy.yaml for the per-endpoint metrics, whose labels ride in the
/// stat name in Istio's convention (`name=.=value;.;`): the first group is cut from the name,
/// the second is the label's value.
pub const ENDPOINT_TAG_REGEXES: [(&str, &str); 4] = [
    ("mirror_target", r"(mirror_target=\.=(.*?);\.;)"),
    ("endpoint", r"(endpoint=\.=(.*?);\.;)"),
    ("aspect", r"(aspect=\.=(.*?);\.;)"),
    ("field", r"(field=\.=(.*?);\.;)"),
];

/// Every tag rule of envoy/envoy.yaml.
pub fn stats_tags() -> Value {
    let mut tags = vec![json!({"tag_name": "mirror_target", "regex": MIRROR_TARGET_TAG_REGEX})];
    tags.extend(
        ENDPOINT_TAG_REGEXES
            .iter()
            .map(|(name, regex)| json!({"tag_name": name, "regex": regex})),
    );
    Value::Array(tags)
}

/// A bootstrap with an admin interface on an ephemeral port. Histograms reach `/stats` when
/// Envoy flushes stats, every 5 s by default; 1 s keeps tests short.
pub fn bootstrap(listeners: Vec<Value>, clusters: Vec<Value>) -> Value {
    json!({
        "admin": {"address": socket(any_port())},
        "stats_flush_interval": "1s",
        "stats_config": {"stats_tags": stats_tags()},
        "static_resources": {"listeners": listeners, "clusters": clusters}
    })
}

/// An HTTP listener (HTTP/1.1 and HTTP/2 cleartext) on an ephemeral port, whose routes match
/// everything (CONNECT included) and do `action` (e.g. [`to_cluster`]), after `filters` and
/// then the router. WebSocket upgrades and CONNECT (HTTP/2's extended CONNECT too) are let
/// through, as a production listener would, so that they reach the filters.
pub fn http_listener(name: &str, action: Value, mut filters: Vec<Value>) -> Value {
    let routes: Vec<Value> = [json!({"connect_matcher": {}}), json!({"prefix": "/"})]
        .into_iter()
        .map(|matcher| {
            let mut route = json!({ "match": matcher });
            if let (Some(route), Value::Object(action)) = (route.as_object_mut(), &action) {
                route.extend(action.clone());
            }
            route
        })
        .collect();
    filters.push(
        json!({"name": "envoy.filters.http.router", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}),
    );
    json!({
        "name": name,
        "address": socket(any_port()),
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
                "stat_prefix": name,
                "codec_type": "AUTO",
                "upgrade_configs": [{"upgrade_type": "websocket"}, {"upgrade_type": "CONNECT"}],
                "http2_protocol_options": {"allow_connect": true},
                "route_config": {"virtual_hosts": [{
                    "name": "all",
                    "domains": ["*"],
                    "routes": routes
                }]},
                "http_filters": filters
            }
        }]}]
    })
}

/// A route action sending everything to `cluster`.
pub fn to_cluster(cluster: &str) -> Value {
    json!({"route": {"cluster": cluster, "timeout": "30s"}})
}

/// A wasm HTTP filter running `wasm` with `configuration` (passed as is), failing open.
pub fn wasm_filter(name: &str, configuration: &str, wasm: &Path) -> Value {
    json!({
        "name": name,
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
            "config": {
                "name": name,
                "root_id": name,
                "failure_policy": "FAIL_OPEN",
                "configuration": {"@type": "type.googleapis.com/google.protobuf.StringValue", "value": configuration},
                "vm_config": {
                    "vm_id": name,
                    "runtime": "envoy.wasm.runtime.v8",
                    "code": {"local": {"filename": wasm}}
                }
            }
        }
    })
}

/// The plugin under test with `plugin_config`.
pub fn plugin_filter(plugin_config: &str) -> Value {
    wasm_filter("traffic-mirror", plugin_config, &crate::wasm_path())
}

/// A static cluster of one endpoint, spoken to in HTTP/1.1 or HTTP/2.
pub fn cluster(name: &str, addr: SocketAddr, http2: bool) -> Value {
    let mut cluster = json!({
        "name": name,
        "type": "STATIC",
        "connect_timeout": "0.25s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": socket(addr)}}]}]}
    });
    if http2 {
        cluster["typed_extension_protocol_options"] = json!({
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}}
            }
        });
    }
    cluster
}

/// The identity Envoy needs to take any dynamic configuration.
pub fn node() -> Value {
    json!({"id": "traffic-mirror-test", "cluster": "traffic-mirror-test"})
}

/// An HTTP filter whose configuration comes by extension config discovery (ECDS) from a
/// watched file, as istiod delivers a WasmPlugin; nothing passes until the first one arrives.
pub fn ecds_filter(name: &str, path: &Path) -> Value {
    json!({
        "name": name,
        "config_discovery": {
            "config_source": {"path_config_source": {"path": path}, "resource_api_version": "V3"},
            "type_urls": ["type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm"]
        }
    })
}

/// A discovery response carrying one filter configuration (`filter`, as in `http_filters`).
pub fn ecds_response(name: &str, filter: &Value, version: u64) -> Value {
    json!({
        "version_info": version.to_string(),
        "resources": [{
            "@type": "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
            "name": name,
            "typed_config": filter["typed_config"]
        }]
    })
}
