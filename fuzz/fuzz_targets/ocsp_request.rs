//! An OCSP request body (`POST /ocsp`, or decoded from `GET /ocsp/{base64}`),
//! parsed against a real issuing CA's name and key hashes.
#![no_main]
use signet_core::mint::StatusPublisher;
use signet_model::ids::{AuthorityId, Serial};
use std::sync::OnceLock;

fn issuer() -> &'static signet_x509::X509Authority {
    static CA: OnceLock<signet_x509::X509Authority> = OnceLock::new();
    CA.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("signet-fuzz-ocsp-{}", std::process::id()));
        let keys = signet_keys::SoftwareKeyStore::new(dir).expect("key directory");
        let now = time::macros::datetime!(2026-01-01 0:00 UTC);
        let (der, signer) = signet_x509::create_root(
            &keys,
            "fuzz-ca",
            signet_model::profile::KeyAlgorithm::EcdsaP256,
            "Fuzz CA",
            &Serial::from_random([7; 16]),
            now,
            time::Duration::days(30),
        )
        .expect("a CA");
        signet_x509::X509Authority::new(AuthorityId::from_random([1; 16]), der.clone(), signer, vec![der], "https://fuzz.test".into())
            .expect("an authority")
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = issuer().parse_ocsp_request(data);
});
