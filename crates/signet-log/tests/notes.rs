#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! Signed checkpoints: our own round trips and tamper cases, plus notes and
//! keys of independent implementations (the C2SP signed-note example and the
//! Go `golang.org/x/mod/sumdb/note` documentation example, used as data).

use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use signet_log::{Checkpoint, LogError, NoteSigner, Verifier, leaf_hash, open_checkpoint, open_note};

const ORIGIN: &str = "signet.example/log";

fn checkpoint(size: u64) -> Checkpoint {
    Checkpoint::new(ORIGIN, size, leaf_hash(&size.to_be_bytes())).unwrap()
}

fn signed(signer: &NoteSigner, size: u64) -> String {
    signer.sign_checkpoint(&checkpoint(size)).unwrap()
}

/// Replace the base64 payload of the first signature line with `edit(payload)`.
fn edit_signature(note: &str, edit: impl Fn(&mut Vec<u8>)) -> String {
    let (text, sig_line) = note.rsplit_once("\n\n").unwrap();
    let (prefix, b64) = sig_line.trim_end().rsplit_once(' ').unwrap();
    let mut payload = STANDARD.decode(b64).unwrap();
    edit(&mut payload);
    format!("{text}\n\n{prefix} {}\n", STANDARD.encode(payload))
}

#[test]
fn round_trip() {
    let signer = NoteSigner::generate().unwrap();
    let note = signed(&signer, 42);
    let body = checkpoint(42).body();
    assert!(note.starts_with(&format!("{body}\n\u{2014} {ORIGIN} ")), "{note}");
    assert!(note.ends_with('\n'));
    let verifier = Verifier::parse(&signer.verifier_key(ORIGIN).unwrap()).unwrap();
    assert_eq!(open_checkpoint(&note, &verifier).unwrap(), checkpoint(42));
    assert_eq!(verifier.to_string(), signer.verifier_key(ORIGIN).unwrap());
}

#[test]
fn the_key_survives_pkcs8_and_is_redacted() {
    let signer = NoteSigner::generate().unwrap();
    let der = signer.to_pkcs8().unwrap();
    let loaded = NoteSigner::from_pkcs8(der.as_bytes()).unwrap();
    assert_eq!(loaded.public_key(), signer.public_key());
    let verifier = signer.verifier(ORIGIN).unwrap();
    open_checkpoint(&signed(&loaded, 7), &verifier).unwrap();
    assert_eq!(format!("{der:?}"), "Pkcs8Der([redacted])");
    let debug = format!("{signer:?}");
    assert!(debug.contains("[redacted]") && !debug.contains(&format!("{:?}", der.as_bytes())), "{debug}");
    assert!(NoteSigner::from_pkcs8(b"not a key").is_err());
}

#[test]
fn wrong_key_is_an_unknown_key() {
    let (signer, other) = (NoteSigner::generate().unwrap(), NoteSigner::generate().unwrap());
    let verifier = other.verifier(ORIGIN).unwrap();
    // Same name, other key: another key ID, so the signature is ignored.
    assert_eq!(open_checkpoint(&signed(&signer, 3), &verifier), Err(LogError::UnknownKey(ORIGIN.to_owned())));
}

#[test]
fn unknown_key_name_is_an_unknown_key() {
    let signer = NoteSigner::generate().unwrap();
    let verifier = signer.verifier("other.example/log").unwrap();
    assert_eq!(open_checkpoint(&signed(&signer, 3), &verifier), Err(LogError::UnknownKey("other.example/log".to_owned())));
}

#[test]
fn a_signature_claiming_our_key_id_must_verify() {
    let (signer, other) = (NoteSigner::generate().unwrap(), NoteSigner::generate().unwrap());
    let ours = signer.verifier(ORIGIN).unwrap();
    let forged = edit_signature(&signed(&other, 3), |payload| payload[..4].copy_from_slice(&ours.key_id()));
    assert_eq!(open_checkpoint(&forged, &ours), Err(LogError::BadSignature(ORIGIN.to_owned())));
}

#[test]
fn modified_body_fails() {
    let signer = NoteSigner::generate().unwrap();
    let verifier = signer.verifier(ORIGIN).unwrap();
    let note = signed(&signer, 1234);
    let tampered = note.replacen("\n1234\n", "\n1235\n", 1);
    assert_ne!(tampered, note);
    assert_eq!(open_checkpoint(&tampered, &verifier), Err(LogError::BadSignature(ORIGIN.to_owned())));
}

#[test]
fn modified_signature_fails() {
    let signer = NoteSigner::generate().unwrap();
    let verifier = signer.verifier(ORIGIN).unwrap();
    let note = signed(&signer, 9);
    for byte in [4, 20, 67] {
        let tampered = edit_signature(&note, |payload| payload[byte] ^= 1);
        assert_eq!(open_checkpoint(&tampered, &verifier), Err(LogError::BadSignature(ORIGIN.to_owned())), "byte {byte}");
    }
    let truncated = edit_signature(&note, |payload| payload.truncate(60));
    assert_eq!(open_checkpoint(&truncated, &verifier), Err(LogError::BadSignature(ORIGIN.to_owned())));
}

#[test]
fn other_signatures_are_ignored_but_a_bad_one_by_our_key_rejects() {
    let (log, witness) = (NoteSigner::generate().unwrap(), NoteSigner::generate().unwrap());
    let verifier = log.verifier(ORIGIN).unwrap();
    let note = signed(&log, 5);
    let witness_line = witness.sign_note("witness.example/w1", &checkpoint(5).body()).unwrap();
    let witness_line = witness_line.rsplit_once("\n\n").unwrap().1;
    let cosigned = format!("{note}{witness_line}");
    assert_eq!(open_checkpoint(&cosigned, &verifier).unwrap(), checkpoint(5));
    let bad_ours = edit_signature(&note, |payload| payload[10] ^= 1);
    let bad_line = bad_ours.rsplit_once("\n\n").unwrap().1;
    assert_eq!(open_checkpoint(&format!("{cosigned}{bad_line}"), &verifier), Err(LogError::BadSignature(ORIGIN.to_owned())));
}

#[test]
fn origin_must_be_the_key_name() {
    let signer = NoteSigner::generate().unwrap();
    let note = signer.sign_note("other.example/log", &checkpoint(1).body()).unwrap();
    let verifier = signer.verifier("other.example/log").unwrap();
    assert_eq!(
        open_checkpoint(&note, &verifier),
        Err(LogError::OriginMismatch { origin: ORIGIN.to_owned(), key_name: "other.example/log".to_owned() })
    );
}

#[test]
fn a_signed_body_that_is_not_a_checkpoint_is_rejected() {
    let signer = NoteSigner::generate().unwrap();
    let verifier = signer.verifier(ORIGIN).unwrap();
    let root = STANDARD.encode(leaf_hash(b""));
    for body in [format!("{ORIGIN}\n01\n{root}\n"), format!("{ORIGIN}\n1\n{root}\nextension\n"), "hello\n".to_owned()] {
        let note = signer.sign_note(ORIGIN, &body).unwrap();
        assert!(matches!(open_checkpoint(&note, &verifier), Err(LogError::MalformedCheckpoint(_))), "{body:?}");
    }
}

fn without_last_padding(note: &str) -> String {
    let at = note.rfind("=\n").unwrap();
    format!("{}{}", &note[..at], &note[at + 1..])
}

#[test]
fn malformed_notes_are_rejected() {
    let signer = NoteSigner::generate().unwrap();
    let verifier = signer.verifier(ORIGIN).unwrap();
    let note = signed(&signer, 8);
    let cases = [
        note.replacen("\n\n", "\n", 1),                                                    // no blank line
        note.replacen('\u{2014}', "-", 1),                                                 // hyphen for em dash
        note.replacen("\u{2014} ", "\u{2014}", 1),                                         // no space after the dash
        note.trim_end().to_owned(),                                                        // no final newline
        note.replacen("\n8\n", "\n8\r\n", 1),                                              // carriage return
        note.replacen(ORIGIN, "signet.example/l\u{7}g", 1),                                // control character
        format!("{note}junk\n"),                                                           // a non-signature line
        format!("{note}\n"),                                                               // a trailing blank line
        without_last_padding(&note),                                                       // base64 without padding
        note.replacen(&format!("\u{2014} {ORIGIN} "), &format!("\u{2014} {ORIGIN}  "), 1), // two spaces
        format!("{note}{}", "\u{2014} junk AAAAAAAA\n".repeat(100)),                       // more than 100 signatures
    ];
    for (i, case) in cases.iter().enumerate() {
        assert_ne!(case, &note, "case {i}");
        let err = open_checkpoint(case, &verifier).unwrap_err();
        assert!(
            matches!(err, LogError::MalformedNote(_) | LogError::MalformedCheckpoint(_) | LogError::BadSignature(_)),
            "case {i}: {err}"
        );
    }
    // 16 signatures must be accepted (the spec's minimum).
    let many = format!("{note}{}", "\u{2014} junk AAAAAAAA\n".repeat(15));
    open_checkpoint(&many, &verifier).unwrap();
}

#[test]
fn signing_refuses_bad_input() {
    let signer = NoteSigner::generate().unwrap();
    assert!(signer.sign_note(ORIGIN, "no newline").is_err());
    assert!(signer.sign_note(ORIGIN, "bell\u{7}\n").is_err());
    for name in ["", "a b", "a+b", "a\u{a0}b", "a\nb"] {
        assert_eq!(signer.sign_note(name, "x\n"), Err(LogError::InvalidKeyName(name.to_owned())));
        assert!(Checkpoint::new(name, 1, [0; 32]).is_err());
    }
}

const SPEC_VKEY: &str = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";

#[test]
fn malformed_verifier_keys_are_rejected() {
    for vkey in [
        "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", // wrong key ID
        "example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", // upper-case hex
        "example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  // short key ID
        "example.com/foo+530d903a+AkyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",  // wrong length / type
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",  // truncated key
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2l", // another key, same key ID
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k=", // padding on 33 bytes
        "example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", // type 0x02
        "example.com/foo+530d903a",
        "example.com/foo",
        "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example com+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "",
    ] {
        assert!(matches!(Verifier::parse(vkey), Err(LogError::MalformedVerifierKey(_))), "{vkey:?}");
    }
}

#[test]
fn the_c2sp_signed_note_example_verifies() {
    let verifier = Verifier::parse(SPEC_VKEY).unwrap();
    assert_eq!(verifier.name(), "example.com/foo");
    assert_eq!(verifier.key_id(), [0x53, 0x0d, 0x90, 0x3a]);
    assert_eq!(verifier.to_string(), SPEC_VKEY);
    let note = "This is an example message.\n\n\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
    assert_eq!(open_note(note, &verifier).unwrap(), "This is an example message.\n");
    assert!(open_note(&note.replacen("example message", "exbmple message", 1), &verifier).is_err());
}

#[test]
fn signing_reproduces_the_go_note_example_byte_for_byte() {
    // golang.org/x/mod/sumdb/note documentation: the signer key
    // PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz
    // holds 0x01 ‖ the Ed25519 seed.
    let seed = STANDARD.decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz").unwrap();
    let pkcs8 = Ed25519KeyPair::from_seed_unchecked(&seed[1..]).unwrap().to_pkcs8v1().unwrap();
    let signer = NoteSigner::from_pkcs8(pkcs8.as_ref()).unwrap();
    assert_eq!(signer.verifier_key("PeterNeumann").unwrap(), "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW");
    let text = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
    let expected = format!(
        "{text}\n\u{2014} PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
    );
    assert_eq!(signer.sign_note("PeterNeumann", text).unwrap(), expected);
}
