//! Bytes from a NATS server, as the event forwarder's connection reads them:
//! every operation in the buffer, in order.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((_, used))) = signet_nats::protocol::parse_op(rest) {
        assert!(used > 0 && used <= rest.len(), "an operation consumes what it parsed");
        rest = &rest[used..];
    }
});
