//! Why the gate closes an established connection: the first packet the ACL
//! forbids, or one that breaks the protocol or the size limit.

/// Why an established connection is closed.
#[derive(Debug)]
pub(super) enum Violation {
    Publish(String),
    Subscribe(String),
    Protocol(String),
    TooLarge,
}
