//! What the alerts keep across a restart, in `<data>/alerts/state.json`
//! (written whole and renamed into place): the book, the flags that still
//! hold, the deliveries not yet made, and since when devices are watched.

use super::conditions::FlagNote;
use super::outbox::Job;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The saved state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Open and recently ended alerts.
    pub book: dashboards::Saved,
    /// Since when devices are watched (a device never heard is offline from then
    /// on plus its `stale_after`), Unix ms of the pipeline's clock.
    pub watching_since_ms: Option<i64>,
    /// IDLE and DOOR_DRIFT flags that may still hold.
    pub notes: Vec<FlagNote>,
    /// Deliveries not yet made.
    pub outbox: Vec<Job>,
}

/// `<data>/alerts/state.json`, or `state-pN.json` for process N of a cluster.
pub fn path(data_dir: &Path, label: &str) -> PathBuf {
    let name = match label {
        "" => "state.json".to_owned(),
        l => format!("state-{l}.json"),
    };
    data_dir.join("alerts").join(name)
}

/// The saved state; an empty one when there is none. A file that cannot be
/// read is set aside (`.bad`) with a warning, so alerts start afresh rather
/// than doorstep not starting.
pub fn load(path: &Path) -> State {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return State::default(),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "cannot read the alert state; alerts start afresh");
            return State::default();
        }
    };
    match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(e) => {
            let bad = path.with_extension("json.bad");
            let _ = std::fs::rename(path, &bad);
            tracing::warn!(file = %path.display(), set_aside = %bad.display(), error = %e, "the alert state is damaged; alerts start afresh");
            State::default()
        }
    }
}

/// Writes `state` to `path` atomically (a temporary file, synced, renamed).
pub fn save(path: &Path, state: &State) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?;
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&text)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_and_loaded_and_a_damaged_file_set_aside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = path(dir.path(), "");
        assert!(load(&p).book.active.is_empty());
        let state = State {
            watching_since_ms: Some(42),
            ..State::default()
        };
        save(&p, &state).expect("save");
        assert_eq!(load(&p).watching_since_ms, Some(42));
        std::fs::write(&p, "{not json").expect("damage");
        assert_eq!(load(&p).watching_since_ms, None);
        assert!(p.with_extension("json.bad").exists());
        assert_eq!(
            path(dir.path(), "p1").file_name().and_then(|n| n.to_str()),
            Some("state-p1.json")
        );
    }
}
