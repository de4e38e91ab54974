//! A running pipeline takes a new version of the registry of all time in
//! place: the stages that write and show rows first, then the stream's
//! workers (each between two readings), then the validator, so that a
//! reading checked under the new version finds every later stage ready for
//! it. Nothing stops and no message waits.

use devices::Registry;
use std::sync::Arc;
use std::time::Duration;

/// What switches a running pipeline's registry in place.
pub struct InPlace {
    /// The registry of the stages after the intake (tables, board, ledger,
    /// alerts, InfluxDB, checkpoints) and of the stream.
    pub current: devices::Current,
    /// The validator's (and the flood guard's).
    pub validator: devices::Current,
    /// The stream's workers.
    pub switcher: stream::Switcher,
    /// A process of a cluster: the others switch on their own, within
    /// seconds of this one.
    pub cluster: bool,
    /// The pipeline's clock.
    pub clock: devices::Clock,
}

/// How long the stream's workers may take to take a switch before the
/// pipeline is restarted under it instead.
const TAKE_WITHIN: Duration = Duration::from_secs(30);

impl InPlace {
    /// Switches from `old` to `new` (a later version of the registry of all
    /// time, holding from `effective_ms`; `recompute`: rooms computed again
    /// from a past time). The stages that read rows and readings take it
    /// first, as a reading checked under it may reach them at once; the
    /// validator last. In a cluster the validator waits for the effective
    /// time: by then every process has switched its other stages (`registry
    /// apply` dates a change ahead while doorstep runs), so no process meets a
    /// reading of a room or device it does not have. Returns how long the
    /// stream's workers took to take it.
    pub async fn apply(
        &self,
        old: Arc<Registry>,
        new: Arc<Registry>,
        recompute: Vec<(devices::RoomIdx, i64)>,
        effective_ms: i64,
    ) -> anyhow::Result<Duration> {
        let (current, validator, switcher) = (
            self.current.clone(),
            self.validator.clone(),
            self.switcher.clone(),
        );
        let now_ms = self.clock.now_ms();
        let hold = (self.cluster && effective_ms > now_ms)
            .then(|| self.clock.real_duration(effective_ms - now_ms));
        let switched = Arc::clone(&new);
        let taken = tokio::task::spawn_blocking(move || {
            let changed = devices::current::changed_rooms(&old, &new);
            current.set(Arc::clone(&new));
            let taking = switcher.switch(changed, recompute);
            if hold.is_none() {
                validator.set(new);
            }
            anyhow::Ok(taking.wait(TAKE_WITHIN)?)
        })
        .await??;
        if let Some(hold) = hold {
            let validator = self.validator.clone();
            tokio::spawn(async move {
                tokio::time::sleep(hold).await;
                // Never back to an older version (two changes due at once).
                if validator.get().since_ms <= switched.since_ms {
                    validator.set(switched);
                    tracing::info!("messages are now checked under the new registry");
                }
            });
        }
        Ok(taken)
    }
}
