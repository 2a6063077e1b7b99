//! Switchyard routing: given the model a client asked for, which deployments may serve it and in what order.
//!
//! Invariant: routing decisions are pure functions over an immutable [`RoutingTable`]; no I/O, no clocks.

use std::collections::HashMap;
use std::sync::Arc;

use sy_config::{Config, Routing};

/// One place a request can go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The deployment's name, reported in `x-switchyard-deployment`.
    pub deployment: Arc<str>,
    /// The provider's name, reported in `x-switchyard-provider`.
    pub provider: Arc<str>,
    /// Index of the provider in the config's provider list.
    pub provider_index: usize,
    /// The upstream's own model id.
    pub upstream_model: Arc<str>,
}

/// A model clients may ask for.
#[derive(Debug, Clone)]
pub struct Route {
    pub name: Arc<str>,
    pub routing: Routing,
    pub targets: Vec<Target>,
}

/// Every model's route, built once per config.
#[derive(Debug, Clone, Default)]
pub struct RoutingTable {
    routes: HashMap<Arc<str>, Route>,
    /// Model names in config order, for listings.
    order: Vec<Arc<str>>,
}

impl RoutingTable {
    pub fn from_config(config: &Config) -> Self {
        let mut table = Self::default();
        for model in &config.models {
            let targets = model
                .deployments
                .iter()
                .filter_map(|d| {
                    let provider_index =
                        config.providers.iter().position(|p| p.name == d.provider)?;
                    Some(Target {
                        deployment: d.name.as_str().into(),
                        provider: d.provider.as_str().into(),
                        provider_index,
                        upstream_model: d.upstream_model.as_str().into(),
                    })
                })
                .collect();
            let name: Arc<str> = model.name.as_str().into();
            table.order.push(name.clone());
            table.routes.insert(
                name.clone(),
                Route {
                    name,
                    routing: model.routing,
                    targets,
                },
            );
        }
        table
    }

    pub fn route(&self, model: &str) -> Option<&Route> {
        self.routes.get(model)
    }

    /// The targets to try for `model`, first choice first; `None` for an unknown model.
    pub fn plan(&self, model: &str) -> Option<&[Target]> {
        let route = self.routes.get(model)?;
        match route.routing {
            // The primary first; the others are failover in the order configured.
            Routing::Priority => Some(&route.targets),
        }
    }

    /// Routes in config order.
    pub fn routes(&self) -> impl Iterator<Item = &Route> {
        self.order.iter().filter_map(|name| self.routes.get(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sy_config::{MapEnv, load_str};

    const CONFIG: &str = r#"
[providers.primary]
kind = "simulator"
[providers.backup]
kind = "simulator"

[[models]]
name = "gpt-4o"
deployments = [
  { provider = "primary", model = "gpt-4o-prod" },
  { provider = "backup", model = "gpt-4o", name = "backup-1" },
]
[[models]]
name = "embed"
deployments = [{ provider = "backup", model = "text-embedding-3-small" }]
"#;

    fn table() -> RoutingTable {
        let config = load_str(CONFIG, None, &MapEnv::default()).expect("valid");
        RoutingTable::from_config(&config)
    }

    #[test]
    fn priority_keeps_the_configured_order() {
        let table = table();
        let plan = table.plan("gpt-4o").expect("known model");
        let names: Vec<&str> = plan.iter().map(|t| &*t.deployment).collect();
        assert_eq!(names, ["primary/gpt-4o-prod", "backup-1"]);
        assert_eq!(&*plan[0].upstream_model, "gpt-4o-prod");
        assert_eq!(
            plan[1].provider_index, 0,
            "providers are sorted by name: backup, primary"
        );
        assert_eq!(plan[0].provider_index, 1);
    }

    #[test]
    fn unknown_models_have_no_plan() {
        assert!(table().plan("gpt-5").is_none());
        assert!(table().plan("GPT-4O").is_none(), "model names are exact");
    }

    #[test]
    fn routes_list_in_config_order() {
        let names: Vec<String> = table().routes().map(|r| r.name.to_string()).collect();
        assert_eq!(names, ["gpt-4o", "embed"]);
    }
}
