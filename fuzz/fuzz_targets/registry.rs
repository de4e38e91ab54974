//! Any text as a registry file: a registry or an error naming the file, never a panic.
#![no_main]

use devices::Registry;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match Registry::from_toml(text, Path::new("fuzz.toml")) {
            Ok(reg) => {
                for room in &reg.rooms {
                    // Every schedule the registry accepts can be asked for its opening time.
                    let tz = reg.site(room.site).timezone;
                    let _ = room
                        .schedule
                        .open_spans(tz, 1_795_363_200, 1_795_363_200 + 7 * 86_400);
                }
            }
            Err(e) => assert!(e.to_string().starts_with("fuzz.toml")),
        }
    }
});
