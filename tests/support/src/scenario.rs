use crate::{Backend, Client, Envoy, Request};
use serde_json::Value;

/// The usual cast of a test: a primary backend, one mirror backend behind cluster `mirror`,
/// and an Envoy running the plugin with `plugin_config`.
pub struct Scenario {
    pub primary: Backend,
    pub mirror: Backend,
    pub envoy: Envoy,
}

impl Scenario {
    pub fn start(plugin_config: Value) -> Scenario {
        Scenario::with_mirror(plugin_config, Backend::start())
    }

    pub fn with_mirror(plugin_config: Value, mirror: Backend) -> Scenario {
        let primary = Backend::start();
        let envoy = Envoy::builder(plugin_config)
            .primary(primary.addr())
            .cluster("mirror", mirror.addr())
            .start();
        Scenario {
            primary,
            mirror,
            envoy,
        }
    }

    pub fn client(&self) -> Client {
        Client::http1(self.envoy.listener())
    }

    /// Sends `count` GETs to `path` on one connection; each original must succeed.
    pub fn get_ok(&self, path: &str, count: usize) {
        let mut client = self.client();
        for i in 0..count {
            let response = client.send(Request::get(path));
            assert_eq!(response.status, 200, "original {i} to {path}");
        }
    }
}
