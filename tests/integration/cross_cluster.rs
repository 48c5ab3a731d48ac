//! Mirroring to another cluster (Istio multi-cluster): copies go to the remote cluster's
//! east-west gateway over TLS, with the SNI that names the remote service (Istio's
//! `outbound_.<port>_.<subset>_.<host>`); the gateway routes by SNI to the remote backend.
//! Certificates are made at test time with openssl.

use mirror_harness::bootstrap::{any_port, bootstrap, socket};
use mirror_harness::{start_bootstrap, Backend, Client, Envoy, Request};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);
const REMOTE_HOST: &str = "user-service.remote.svc.cluster.local";
const SNI: &str = "outbound_.8080_._.user-service.remote.svc.cluster.local";

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        status.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&status.stderr)
    );
}

/// A CA, and the gateway's certificate for the remote service's SNI, signed by it.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=mesh-ca",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN={REMOTE_HOST}"),
            "-keyout",
            "gateway.key",
            "-out",
            "gateway.csr",
        ],
    );
    std::fs::write(
        dir.join("san.ext"),
        format!("subjectAltName=DNS:{SNI},DNS:{REMOTE_HOST}\n"),
    )
    .expect("ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "gateway.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "san.ext",
            "-out",
            "gateway.crt",
        ],
    );
}

/// The remote cluster's east-west gateway: TLS, one filter chain per SNI; only the remote
/// service's SNI leads anywhere (to its backend).
fn start_gateway(dir: &Path, remote_backend: std::net::SocketAddr) -> Envoy {
    let tls = json!({
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "common_tls_context": {"tls_certificates": [{
                "certificate_chain": {"filename": dir.join("gateway.crt")},
                "private_key": {"filename": dir.join("gateway.key")}
            }]}
        }
    });
    let listener = json!({
        "name": "east-west",
        "address": socket(any_port()),
        "listener_filters": [{"name": "envoy.filters.listener.tls_inspector", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"}}],
        "filter_chains": [{
            "filter_chain_match": {"server_names": [SNI]},
            "transport_socket": tls,
            "filters": [{"name": "envoy.filters.network.tcp_proxy", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
                "stat_prefix": "remote_user_service", "cluster": "remote_user_service"}}]
        }]
    });
    let cluster = mirror_harness::bootstrap::cluster("remote_user_service", remote_backend, false);
    start_bootstrap(
        &bootstrap(vec![listener], vec![cluster]),
        1,
        mirror_harness::tempfile::tempdir().expect("dir"),
    )
}

/// The local cluster's view of the remote service: its gateway, over TLS with the SNI.
fn remote_cluster(name: &str, gateway: std::net::SocketAddr, ca: &Path, sni: &str) -> Value {
    let mut cluster = mirror_harness::bootstrap::cluster(name, gateway, false);
    cluster["transport_socket"] = json!({
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "sni": sni,
            "common_tls_context": {"validation_context": {
                "trusted_ca": {"filename": ca},
                "match_typed_subject_alt_names": [{"san_type": "DNS", "matcher": {"exact": sni}}]
            }}
        }
    });
    cluster
}

#[test]
fn copies_reach_a_remote_cluster_through_its_east_west_gateway_over_tls_with_sni() {
    let certs = mirror_harness::tempfile::tempdir().expect("dir");
    certificates(certs.path());
    let remote_backend = Backend::start();
    let gateway = start_gateway(certs.path(), remote_backend.addr());
    let primary = Backend::start();
    let istio_cluster = format!("outbound|8080||{REMOTE_HOST}");
    let envoy = Envoy::builder(json!({"targets": [
        {"service": REMOTE_HOST, "port": 8080, "name": "remote"},
        {"cluster": "wrong-sni", "name": "wrong_sni"}
    ]}))
    .primary(primary.addr())
    .raw_cluster(remote_cluster(
        &istio_cluster,
        gateway.listener(),
        &certs.path().join("ca.crt"),
        SNI,
    ))
    .raw_cluster(remote_cluster(
        "wrong-sni",
        gateway.listener(),
        &certs.path().join("ca.crt"),
        "outbound_.8080_._.other.remote.svc.cluster.local",
    ))
    .start();

    let mut client = Client::http1(envoy.listener());
    for i in 0..5 {
        let request =
            Request::post(&format!("/users/{i}"), "profile").header("authorization", "Bearer s");
        assert_eq!(client.send(request).status, 200);
    }
    let copies = remote_backend.wait_for(5, WAIT);
    assert!(copies
        .iter()
        .all(|c| c.body == b"profile" && !c.has_header("authorization")));
    assert!(copies
        .iter()
        .all(|c| c.header("x-traffic-mirror") == Some("remote")));
    envoy.wait_for_counter("remote", "responses_2xx", 5, WAIT);
    // A copy whose SNI the gateway does not serve goes nowhere, and is counted as failed.
    envoy.wait_for_counter("wrong_sni", "failed", 5, WAIT);
    assert_eq!(remote_backend.count(), 5);
    // The gateway terminated TLS for the remote service's SNI, and for no other.
    let stats = gateway.admin_get("/stats?filter=ssl.handshake|no_filter_chain_match");
    let value = |suffix: &str| -> u64 {
        stats
            .lines()
            .filter(|l| l.contains(suffix))
            .filter_map(|l| l.rsplit(": ").next()?.trim().parse::<u64>().ok())
            .sum()
    };
    assert!(value("ssl.handshake") >= 1, "{stats}");
    assert!(value("no_filter_chain_match") >= 1, "{stats}");
}
