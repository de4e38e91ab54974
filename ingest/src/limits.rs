//! The embedded broker's limits (`[mqtt.limits]`), shared by rumqttd's
//! configuration and the gate's admission and per-connection checks.

/// The embedded broker's limits: what rumqttd sets aside, and what the door
/// allows each socket, address, account and connection (docs/SECURITY.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerLimits {
    /// Client connections open at once (each slot costs about 1.5 KB in rumqttd, reserved at start).
    pub max_connections: usize,
    /// MiB of messages rumqttd keeps for subscribers that are behind. Device
    /// messages do not pass through it (the door hands them to doorstep's
    /// journal); only other topics' traffic does.
    pub buffer_mib: usize,
    /// Of `max_connections`, how many may be clients that are not known devices
    /// (no account, and a client id that is not a registered device id).
    pub max_anonymous: usize,
    /// Connections of clients that are not known devices, per address.
    pub anonymous_per_address: usize,
    /// Connections per account (username) at once.
    pub per_account: usize,
    /// Sockets waiting for their CONNECT at once; the oldest makes room for a new one.
    pub max_waiting: usize,
    /// Sockets of one address waiting for their CONNECT; its oldest makes room.
    pub waiting_per_address: usize,
    /// Seconds a socket may take to send its CONNECT.
    pub connect_timeout_s: u64,
    /// Messages of one connection not yet journaled; while they are out, the
    /// connection is not read from.
    pub max_inflight: usize,
    /// Largest payload taken in, bytes; a larger message is skipped as it
    /// arrives and its first bytes quarantined as `oversize`.
    pub max_message_bytes: usize,
    /// Messages a second one connection may send (a burst of as many is allowed);
    /// beyond it the connection is read more slowly.
    pub rate_messages: u32,
    /// Bytes a second one connection may send (a burst of as many is allowed).
    pub rate_bytes: u32,
}

impl Default for BrokerLimits {
    fn default() -> Self {
        BrokerLimits {
            max_connections: 10_000,
            buffer_mib: 16,
            max_anonymous: 1_000,
            anonymous_per_address: 100,
            per_account: 16,
            max_waiting: 1_024,
            waiting_per_address: 64,
            connect_timeout_s: 10,
            max_inflight: 256,
            max_message_bytes: 64 * 1024,
            rate_messages: 10_000,
            rate_bytes: 16 * 1024 * 1024,
        }
    }
}
