//! Any bytes: decoding a v1 payload returns a message or a reason, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = devices::codec::decode_v1(data) {
        // What decodes was at most 4 KiB of UTF-8.
        assert!(data.len() <= devices::codec::MAX_PAYLOAD);
        assert!(std::str::from_utf8(data).is_ok());
        let _ = m.value.kind();
    }
});
