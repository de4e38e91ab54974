//! Publishing a simulated fleet in (simulated) real time.

use devices::Clock;
use devices::sim::Fleet;
use ingest::Publisher;
use std::time::Duration;

/// Publishes what the fleet says until `until_ms` (clock time) or forever; returns the count.
pub async fn publish_fleet(
    publisher: &Publisher,
    mut fleet: Fleet,
    clock: Clock,
    until_ms: Option<i64>,
) -> anyhow::Result<u64> {
    let mut sent = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = clock.now_ms();
        let to = until_ms.map_or(now, |u| u.min(now));
        for m in fleet.step(to) {
            publisher.publish(m.topic, m.payload).await?;
            sent += 1;
        }
        if until_ms.is_some_and(|u| now >= u) {
            return Ok(sent);
        }
    }
}
