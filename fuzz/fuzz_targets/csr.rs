//! A CSR as `POST /v1/requests` receives it: PEM or DER, any bytes.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(csr) = signet_x509::parse_csr(data) {
        // What parses must have proven possession of its key.
        assert!(!csr.key.spki_der.is_empty());
    }
});
