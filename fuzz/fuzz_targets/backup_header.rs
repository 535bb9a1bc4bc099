//! A backup file's header, read before any passphrase is asked for.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut input = data;
    let _ = signet_backup::container::read_header(&mut input, std::path::Path::new("fuzz.signetbk"));
});
