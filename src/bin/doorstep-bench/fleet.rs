//! A simulated national-style fleet: the sample registry's sites copied as often as needed.

use anyhow::Context;
use devices::Registry;
use std::path::Path;
use std::sync::Arc;

/// The sample registry (config/registry.toml), compiled in.
const SAMPLE: &str = include_str!("../../../config/registry.toml");

/// A registry of at least `sites` sites: whole copies of the sample's five, with
/// ids and names numbered.
pub fn registry(sites: usize) -> anyhow::Result<Arc<Registry>> {
    let text = registry_toml(sites)?;
    let registry = Registry::from_toml(&text, Path::new("bench-registry.toml"))
        .context("the copied sample registry")?;
    Ok(Arc::new(registry))
}

/// The registry file of [`registry`].
pub fn registry_toml(sites: usize) -> anyhow::Result<String> {
    let one = Registry::from_toml(SAMPLE, Path::new("config/registry.toml"))?;
    let per_copy = one.sites.len().max(1);
    let mut text = String::new();
    for copy in 0..sites.div_ceil(per_copy) {
        text += &SAMPLE
            .replace("id = \"", &format!("id = \"c{copy}-"))
            .replace("room = \"", &format!("room = \"c{copy}-"))
            .replace("name = \"", &format!("name = \"{copy}号"));
        text.push('\n');
    }
    Ok(text)
}
