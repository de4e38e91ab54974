//! What the stream's tests share: the shipped registry and its simulated fleet.

use devices::{Limits, Reading, Registry, Validator};
use std::path::Path;
use std::sync::Arc;

/// 2026-11-23 (Monday) 06:00 in Shanghai, Unix ms.
pub const START_MS: i64 = 1_795_384_800_000;

/// `config/registry.toml` and the validated readings its simulated fleet (`seed`)
/// sends from `START_MS` to `until_ms`, in the order sent.
pub fn fleet(seed: u64, until_ms: i64) -> (Arc<Registry>, Vec<Reading>) {
    let text = include_str!("../../../../config/registry.toml");
    let registry =
        Arc::new(Registry::from_toml(text, Path::new("config/registry.toml")).expect("registry"));
    let mut fleet = devices::sim::Fleet::new(Arc::clone(&registry), seed, START_MS);
    let validator = Validator::new(Arc::clone(&registry), Limits::default());
    let readings = fleet
        .step(until_ms)
        .into_iter()
        .map(|p| {
            validator
                .check(&p.topic, &p.payload, p.time_ms)
                .expect("valid")
        })
        .collect();
    (registry, readings)
}
