//! What `signet log verify` reads from an export or a witness: verifier
//! keys, signed notes and checkpoint bodies.
#![no_main]
use signet_log::{Verifier, open_checkpoint};
use std::sync::OnceLock;

fn verifier() -> &'static Verifier {
    static V: OnceLock<Verifier> = OnceLock::new();
    V.get_or_init(|| Verifier::new("signet/fuzz", [9; 32]).expect("a verifier"))
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = Verifier::parse(text);
    let _ = signet_log::Checkpoint::parse(text);
    let _ = open_checkpoint(text, verifier());
});
