//! Stage 1: the fingerprint, the key under which repeats of one problem fold together.
//!
//! An explicit `dedup_key` is the fingerprint as given. Otherwise it is the hex of the first
//! 16 bytes of SHA-256 over `source`, `host`, `service`, `check` and the event's own labels
//! (sorted by name), each field length-prefixed so no two different events can share the input.
//! Stable across restarts, builds and collectors.

use super::{Context, Flow, Step};
use crate::incidents::event::EventIn;

/// Stage 1: sets the step's fingerprint.
pub fn stage(_: &Context<'_>, step: &mut Step<'_>) -> Flow {
    step.fingerprint = fingerprint(step.event);
    Flow::Continue
}

/// The fingerprint of `event`.
pub fn fingerprint(event: &EventIn) -> String {
    if let Some(key) = &event.dedup_key {
        return key.clone();
    }
    // The length-prefixed fields in one buffer, hashed at once (one digest update instead of
    // two per field; the bytes hashed are the same).
    let mut input: Vec<u8> = Vec::with_capacity(256);
    let mut field = |bytes: &[u8]| {
        input.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        input.extend_from_slice(bytes);
    };
    field(event.source.as_bytes());
    field(event.host.as_deref().unwrap_or("").as_bytes());
    field(event.service.as_deref().unwrap_or("").as_bytes());
    field(event.check.as_bytes());
    // `Labels` is a BTreeMap: iteration is sorted by name.
    for (name, value) in &event.labels {
        field(name.as_bytes());
        field(value.as_bytes());
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, &input);
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = String::with_capacity(32);
    for byte in &digest.as_ref()[..16] {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_shared::event::{Severity, Status};

    fn event() -> EventIn {
        EventIn::new("nagios", "http_5xx", Status::Firing, Severity::Major)
            .with_host("web-1")
            .with_service("checkout")
    }

    #[test]
    fn equal_events_share_a_fingerprint_and_any_identity_field_changes_it() {
        let base = fingerprint(&event());
        assert_eq!(base.len(), 32);
        assert_eq!(base, fingerprint(&event()));
        let mut other = event();
        other.summary = "different text".into();
        other.severity = Severity::Critical;
        other.status = Status::Resolved;
        assert_eq!(
            base,
            fingerprint(&other),
            "text, severity and status are not identity"
        );
        for change in [
            |e: &mut EventIn| e.source = "zabbix".into(),
            |e: &mut EventIn| e.host = Some("web-2".into()),
            |e: &mut EventIn| e.service = None,
            |e: &mut EventIn| e.check = "http_4xx".into(),
            |e: &mut EventIn| {
                e.labels.insert("dc".into(), "eu-1".into());
            },
        ] {
            let mut changed = event();
            change(&mut changed);
            assert_ne!(base, fingerprint(&changed));
        }
    }

    #[test]
    fn a_known_event_keeps_its_fingerprint() {
        // Pinned: incidents stored by earlier builds (and other collectors) must fold with new
        // events, so the fingerprint of an event never changes between builds.
        let mut labelled = event();
        labelled.labels.insert("dc".into(), "eu-1".into());
        labelled.labels.insert("az".into(), "b".into());
        assert_eq!(
            (fingerprint(&event()), fingerprint(&labelled)),
            (
                "10d4a55d77241ca8cfb09530d40ef77e".to_owned(),
                "7910c3b5cdd40179e86540c57199092f".to_owned()
            )
        );
    }

    #[test]
    fn field_boundaries_cannot_be_shifted() {
        let mut a = event();
        a.host = Some("ab".into());
        a.service = Some("c".into());
        let mut b = event();
        b.host = Some("a".into());
        b.service = Some("bc".into());
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn an_explicit_dedup_key_is_the_fingerprint() {
        let mut a = event();
        a.dedup_key = Some("checkout-5xx".into());
        assert_eq!(fingerprint(&a), "checkout-5xx");
    }
}
