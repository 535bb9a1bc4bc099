#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failing loudly is the point
//! Export and offline verification: a clean export verifies, and each of the
//! four tamper cases (change a byte, delete, reorder, truncate), in the
//! export or in the database it is written from, fails naming the first bad
//! index.

use std::fs;
use std::path::{Path, PathBuf};

use signet_log::export::{CHECKPOINTS_DIR, ENTRIES_FILE, LEAF_HASHES_FILE, checkpoint_file_name};
use signet_log::{
    Checkpoint, Hash, LogError, MemoryTree, NodeSource, NoteSigner, Verifier, VerifyError, VerifyReport, leaf_hash, root_at, to_hex,
    verify_export, write_export,
};

const ORIGIN: &str = "signet.example/log";
const ENTRIES: u64 = 110;
const CHECKPOINTS: [u64; 5] = [0, 10, 37, 64, 100];

/// An entry as Signet logs it: compact JSON with its `index` and `prev`.
fn entry_with(index: u64, prev: &Hash, actor: &str) -> Vec<u8> {
    format!(
        r#"{{"v":1,"index":{index},"prev":"{}","type":"credential.issued","actor":"{actor}","subject_id":"sub_{}"}}"#,
        to_hex(prev),
        index * 7
    )
    .into_bytes()
}

/// `n` chained entries.
fn entries(n: u64) -> Vec<Vec<u8>> {
    rechain((0..n).map(|i| entry_with(i, &[0; 32], "admin")).collect(), 0)
}

/// Recompute `prev` from entry `from` on, as a thorough forger would.
fn rechain(mut lines: Vec<Vec<u8>>, from: usize) -> Vec<Vec<u8>> {
    for i in from..lines.len() {
        let prev = if i == 0 { [0; 32] } else { leaf_hash(&lines[i - 1]) };
        let text = String::from_utf8(lines[i].clone()).unwrap();
        let at = text.find(r#""prev":""#).unwrap() + 8;
        lines[i] = format!("{}{}{}", &text[..at], to_hex(&prev), &text[at + 64..]).into_bytes();
    }
    lines
}

/// The log as the database holds it.
struct Log {
    signer: NoteSigner,
    verifier: Verifier,
    entries: Vec<Vec<u8>>,
    stored_leaf_hashes: Vec<Hash>,
    notes: Vec<String>,
}

fn log() -> Log {
    let signer = NoteSigner::generate().unwrap();
    let verifier = signer.verifier(ORIGIN).unwrap();
    let entries = entries(ENTRIES);
    let tree = MemoryTree::from_leaf_hashes(entries.iter().map(|e| leaf_hash(e)));
    let stored_leaf_hashes = (0..ENTRIES).map(|i| tree.node(0, i).unwrap()).collect();
    let notes = CHECKPOINTS
        .iter()
        .map(|&size| signer.sign_checkpoint(&Checkpoint::new(ORIGIN, size, root_at(size, &tree).unwrap()).unwrap()).unwrap())
        .collect();
    Log { signer, verifier, entries, stored_leaf_hashes, notes }
}

impl Log {
    fn export(&self) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("export");
        write_export(&dir, self.entries.clone(), self.stored_leaf_hashes.clone(), &self.notes).unwrap();
        (tmp, dir)
    }

    fn verify(&self, dir: &Path) -> Result<VerifyReport, VerifyError> {
        verify_export(dir, &self.verifier)
    }
}

fn read_lines(path: &Path) -> Vec<Vec<u8>> {
    let bytes = fs::read(path).unwrap();
    let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    assert_eq!(lines.pop(), Some(vec![]));
    lines
}

fn write_lines(path: &Path, lines: &[Vec<u8>]) {
    let mut bytes = Vec::new();
    for line in lines {
        bytes.extend_from_slice(line);
        bytes.push(b'\n');
    }
    fs::write(path, bytes).unwrap();
}

fn edit_entries(dir: &Path, edit: impl FnOnce(&mut Vec<Vec<u8>>)) {
    let path = dir.join(ENTRIES_FILE);
    let mut lines = read_lines(&path);
    edit(&mut lines);
    write_lines(&path, &lines);
}

/// Change one byte of the entry's `actor` value.
fn change_byte(line: &mut [u8]) {
    let at = line.windows(5).position(|w| w == b"admin").unwrap() + 4;
    line[at] = b'm';
}

/// The smallest checkpoint covering `index`.
fn covering(index: u64) -> Option<u64> {
    CHECKPOINTS.into_iter().find(|&size| size > index)
}

fn message(result: Result<VerifyReport, VerifyError>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn a_clean_export_verifies() {
    let log = log();
    let (_tmp, dir) = log.export();
    let report = log.verify(&dir).unwrap();
    assert_eq!(report.entries, ENTRIES);
    assert_eq!(report.checkpoints, CHECKPOINTS.len());
    assert_eq!(report.latest.size(), 100);
    assert_eq!(report.uncovered, 10);
    assert_eq!(report.stored_leaf_hashes, ENTRIES);
    assert_eq!(report.warnings, vec!["10 entries not yet covered by a checkpoint".to_owned()]);
    assert!(dir.join(CHECKPOINTS_DIR).join(checkpoint_file_name(37)).is_file());
    assert_eq!(checkpoint_file_name(37), "00000000000000000037.note");
}

#[test]
fn a_changed_byte_names_the_entry() {
    let log = log();
    for index in [0u64, 9, 10, 36, 63, 64, 99, 100, 109] {
        let (_tmp, dir) = log.export();
        edit_entries(&dir, |lines| change_byte(&mut lines[index as usize]));
        let err = log.verify(&dir).unwrap_err();
        match covering(index) {
            Some(size) => {
                assert_eq!(err.to_string(), format!("entry {index} does not match checkpoint of size {size}"));
                assert!(matches!(err, VerifyError::EntryMismatch { index: i, checkpoint_size: s } if i == index && s == size));
            }
            None => assert!(matches!(err, VerifyError::EntryDiffersFromStoredLeaf { index: i } if i == index), "{index}: {err}"),
        }
    }
}

#[test]
fn a_changed_index_or_broken_json_names_the_entry() {
    let log = log();
    let (_tmp, dir) = log.export();
    edit_entries(&dir, |lines| {
        lines[42] = String::from_utf8(lines[42].clone()).unwrap().replace("\"index\":42", "\"index\":43").into_bytes()
    });
    assert_eq!(message(log.verify(&dir)), "entry 42 has `index` 43: an entry is missing, duplicated or out of order");

    for (index, edit) in [(5usize, "[" as &str), (6, "}"), (7, "")] {
        let (_tmp, dir) = log.export();
        edit_entries(&dir, |lines| match edit {
            "[" => lines[index][0] = b'[',
            "}" => {
                lines[index].pop();
            }
            _ => lines[index].clear(),
        });
        let err = log.verify(&dir).unwrap_err();
        assert!(matches!(err, VerifyError::MalformedEntry { index: i, .. } if i == index as u64), "{err}");
    }

    let (_tmp, dir) = log.export();
    edit_entries(&dir, |lines| lines[8] = format!(r#"{{"index":8,"index":8,"prev":"{}"}}"#, "0".repeat(64)).into_bytes());
    assert!(matches!(log.verify(&dir), Err(VerifyError::MalformedEntry { index: 8, .. })), "duplicate `index` keys");

    let (_tmp, dir) = log.export();
    edit_entries(&dir, |lines| lines[9] = String::from_utf8(lines[9].clone()).unwrap().replace("\"prev\"", "\"prev_\"").into_bytes());
    assert!(matches!(log.verify(&dir), Err(VerifyError::MalformedEntry { index: 9, .. })), "no `prev`");

    let (_tmp, dir) = log.export();
    edit_entries(&dir, |lines| lines[0] = rechain(vec![entry_with(0, &[1; 32], "admin")], 1).remove(0));
    assert!(matches!(log.verify(&dir), Err(VerifyError::EntryMismatch { index: 0, checkpoint_size: 10 })));

    let (_tmp, dir) = log.export();
    edit_entries(&dir, |lines| lines[9] = String::from_utf8(lines[9].clone()).unwrap().replace("\"prev\":\"", "\"prev\":\"A").into_bytes());
    assert!(matches!(log.verify(&dir), Err(VerifyError::MalformedEntry { index: 9, .. })), "`prev` not hex");
}

#[test]
fn a_deleted_entry_is_named() {
    let log = log();
    for index in [0usize, 50, 99, 105] {
        let (_tmp, dir) = log.export();
        edit_entries(&dir, |lines| {
            lines.remove(index);
        });
        assert_eq!(
            message(log.verify(&dir)),
            format!("entry {index} has `index` {}: an entry is missing, duplicated or out of order", index + 1)
        );
    }
    // The last entry: one fewer entry than the log stored leaf hashes for.
    let (_tmp, dir) = log.export();
    edit_entries(&dir, |lines| {
        lines.pop();
    });
    assert!(matches!(log.verify(&dir), Err(VerifyError::TruncatedBeforeStoredLeaves { index: 109, stored: 110 })));
}

#[test]
fn a_deletion_hidden_by_renumbering_is_named() {
    let log = log();
    let (_tmp, dir) = log.export();
    edit_entries(&dir, |lines| {
        lines.remove(20);
        for (i, line) in lines.iter_mut().enumerate().skip(20) {
            let text = String::from_utf8(line.clone()).unwrap().replace(&format!("\"index\":{}", i + 1), &format!("\"index\":{i}"));
            *line = text.into_bytes();
        }
    });
    assert_eq!(message(log.verify(&dir)), "entry 20 does not match checkpoint of size 37");
}

#[test]
fn reordered_entries_are_named() {
    let log = log();
    for (j, k) in [(3usize, 4usize), (10, 60), (0, 109), (101, 108)] {
        let (_tmp, dir) = log.export();
        edit_entries(&dir, |lines| lines.swap(j, k));
        assert_eq!(message(log.verify(&dir)), format!("entry {j} has `index` {k}: an entry is missing, duplicated or out of order"));
    }
}

#[test]
fn a_truncated_tail_is_named() {
    let log = log();
    for (keep, size) in [(80usize, 100u64), (0, 10), (99, 100), (37, 64)] {
        let (_tmp, dir) = log.export();
        edit_entries(&dir, |lines| lines.truncate(keep));
        assert_eq!(
            message(log.verify(&dir)),
            format!("entry {keep} is missing: the export ends after {keep} entries, checkpoint of size {size} covers more")
        );
    }
    let (_tmp, dir) = log.export();
    edit_entries(&dir, |lines| lines.truncate(100));
    assert!(matches!(log.verify(&dir), Err(VerifyError::TruncatedBeforeStoredLeaves { index: 100, stored: 110 })));

    // A last line cut mid-way.
    let (_tmp, dir) = log.export();
    let path = dir.join(ENTRIES_FILE);
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() - 5]).unwrap();
    assert!(matches!(log.verify(&dir), Err(VerifyError::MalformedEntry { index: 109, .. })));
}

/// Tampering in the database: the export is written from altered entry rows
/// and the untouched node table.
#[test]
fn database_tampering_is_named() {
    let log = log();
    let export = |entries: Vec<Vec<u8>>| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        write_export(&dir, entries, log.stored_leaf_hashes.clone(), &log.notes).unwrap();
        (tmp, dir)
    };
    let mut changed = log.entries.clone();
    change_byte(&mut changed[12]);
    let (_t1, dir) = export(changed);
    assert_eq!(message(log.verify(&dir)), "entry 12 does not match checkpoint of size 37");

    let mut deleted = log.entries.clone();
    deleted.remove(12);
    let (_t2, dir) = export(deleted);
    assert_eq!(message(log.verify(&dir)), "entry 12 has `index` 13: an entry is missing, duplicated or out of order");

    let mut swapped = log.entries.clone();
    swapped.swap(12, 70);
    let (_t3, dir) = export(swapped);
    assert_eq!(message(log.verify(&dir)), "entry 12 has `index` 70: an entry is missing, duplicated or out of order");

    let (_t4, dir) = export(log.entries[..50].to_vec());
    assert_eq!(message(log.verify(&dir)), "entry 50 is missing: the export ends after 50 entries, checkpoint of size 64 covers more");
}

#[test]
fn without_stored_leaf_hashes_the_chain_names_a_change() {
    let log = log();
    let (_tmp, dir) = log.export();
    fs::remove_file(dir.join(LEAF_HASHES_FILE)).unwrap();
    let report = log.verify(&dir).unwrap();
    assert_eq!(report.stored_leaf_hashes, 0);
    assert!(report.warnings.iter().any(|w| w.starts_with("no leaf-hashes.txt")));

    // Inside a checkpoint interval, at its last entry, past the last checkpoint.
    for index in [50usize, 63, 105] {
        let (_tmp, dir) = log.export();
        fs::remove_file(dir.join(LEAF_HASHES_FILE)).unwrap();
        edit_entries(&dir, |lines| change_byte(&mut lines[index]));
        let err = log.verify(&dir).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "entry {index} or entry {} was changed: the `prev` of entry {} is not the leaf hash of entry {index}",
                index + 1,
                index + 1
            )
        );
        assert_eq!(err.first_bad_index(), Some(index as u64));
    }

    // The last entry has no successor: only a checkpoint or a stored leaf hash
    // protects it.
    let (_tmp, dir) = log.export();
    fs::remove_file(dir.join(LEAF_HASHES_FILE)).unwrap();
    edit_entries(&dir, |lines| change_byte(&mut lines[109]));
    assert_eq!(log.verify(&dir).unwrap().uncovered, 10);

    // With entry 50 changed, an earlier deletion is named first.
    let (_tmp, dir) = log.export();
    fs::remove_file(dir.join(LEAF_HASHES_FILE)).unwrap();
    edit_entries(&dir, |lines| {
        change_byte(&mut lines[50]);
        lines.remove(5);
    });
    assert_eq!(message(log.verify(&dir)), "entry 5 has `index` 6: an entry is missing, duplicated or out of order");
}

#[test]
fn a_thorough_rewrite_is_located_to_a_checkpoint_interval() {
    let log = log();
    let (_tmp, dir) = log.export();
    // Change entry 50, rechain everything after it, rewrite the stored hashes.
    let mut lines = read_lines(&dir.join(ENTRIES_FILE));
    change_byte(&mut lines[50]);
    let lines = rechain(lines, 51);
    write_lines(&dir.join(ENTRIES_FILE), &lines);
    let hashes: Vec<Vec<u8>> = lines.iter().map(|l| to_hex(&leaf_hash(l)).into_bytes()).collect();
    write_lines(&dir.join(LEAF_HASHES_FILE), &hashes);
    let err = log.verify(&dir).unwrap_err();
    assert_eq!(err.to_string(), "an entry in 37..64 does not match checkpoint of size 64 (the stored leaf hashes do not locate it)");
    assert_eq!(err.first_bad_index(), None);

    // Changing an entry and its stored hash only still breaks the chain.
    let (_tmp, dir) = log.export();
    edit_entries(&dir, |lines| change_byte(&mut lines[50]));
    let mut hashes = read_lines(&dir.join(LEAF_HASHES_FILE));
    hashes[50] = to_hex(&leaf_hash(&read_lines(&dir.join(ENTRIES_FILE))[50])).into_bytes();
    write_lines(&dir.join(LEAF_HASHES_FILE), &hashes);
    assert!(matches!(log.verify(&dir), Err(VerifyError::ChainBreak { index: 51 })));
}

#[test]
fn a_damaged_stored_leaf_hash_is_named() {
    let log = log();
    let (_tmp, dir) = log.export();
    let path = dir.join(LEAF_HASHES_FILE);
    let mut hashes = read_lines(&path);
    hashes[30] = to_hex(&[7; 32]).into_bytes();
    write_lines(&path, &hashes);
    assert_eq!(
        message(log.verify(&dir)),
        "stored leaf hash 30 does not match entry 30, which checkpoint of size 37 authenticates: the stored tree is damaged"
    );
    hashes[30] = b"not hex".to_vec();
    write_lines(&path, &hashes);
    assert!(matches!(log.verify(&dir), Err(VerifyError::MalformedLeafHash { line: 30 })));
}

#[test]
fn checkpoint_problems() {
    let log = log();
    let cp_path = |dir: &Path, size| dir.join(CHECKPOINTS_DIR).join(checkpoint_file_name(size));

    // A changed checkpoint.
    let (_t1, dir) = log.export();
    let note = fs::read_to_string(cp_path(&dir, 37)).unwrap();
    fs::write(cp_path(&dir, 37), note.replacen("\n37\n", "\n38\n", 1)).unwrap();
    let err = log.verify(&dir).unwrap_err();
    assert!(matches!(&err, VerifyError::Checkpoint { source: LogError::BadSignature(_), .. }), "{err}");

    // Signed by another key.
    let (_t2, dir) = log.export();
    let other = NoteSigner::generate().unwrap();
    let body = format!("{}\n", note.split("\n\n").next().unwrap());
    fs::write(cp_path(&dir, 37), other.sign_checkpoint(&Checkpoint::parse(&body).unwrap()).unwrap()).unwrap();
    let err = log.verify(&dir).unwrap_err();
    assert!(matches!(&err, VerifyError::Checkpoint { source: LogError::UnknownKey(_), .. }), "{err}");

    // Two signed checkpoints of one size: a split view.
    let (_t3, dir) = log.export();
    let fork = log.signer.sign_checkpoint(&Checkpoint::new(ORIGIN, 37, [9; 32]).unwrap()).unwrap();
    fs::write(dir.join(CHECKPOINTS_DIR).join("fork.note"), fork).unwrap();
    assert!(matches!(log.verify(&dir), Err(VerifyError::SplitView { size: 37, .. })));

    // A signed checkpoint of another history.
    let (_t4, dir) = log.export();
    let fork = log.signer.sign_checkpoint(&Checkpoint::new(ORIGIN, 64, [9; 32]).unwrap()).unwrap();
    fs::write(cp_path(&dir, 64), fork).unwrap();
    assert!(matches!(log.verify(&dir), Err(VerifyError::RangeMismatch { from: 37, checkpoint_size: 64 })));

    // No checkpoint at all.
    let (_t5, dir) = log.export();
    fs::remove_dir_all(dir.join(CHECKPOINTS_DIR)).unwrap();
    assert!(matches!(log.verify(&dir), Err(VerifyError::NoCheckpoint)));
    fs::create_dir(dir.join(CHECKPOINTS_DIR)).unwrap();
    assert!(matches!(log.verify(&dir), Err(VerifyError::NoCheckpoint)));
}

#[test]
fn write_export_refuses_bad_input() {
    let log = log();
    let tmp = tempfile::tempdir().unwrap();
    let no_hashes: Vec<Hash> = Vec::new();
    let err = write_export(tmp.path(), vec![b"{\"index\":0}\n".to_vec()], no_hashes.clone(), &[]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);

    let (_t, dir) = log.export();
    assert_eq!(
        write_export(&dir, log.entries.clone(), no_hashes.clone(), &log.notes).unwrap_err().kind(),
        std::io::ErrorKind::AlreadyExists
    );

    let tmp = tempfile::tempdir().unwrap();
    let twice = [log.notes[1].clone(), log.notes[1].clone()];
    write_export(tmp.path(), log.entries[..10].to_vec(), no_hashes.clone(), &twice).unwrap();
    let report = log.verify(tmp.path()).unwrap();
    assert_eq!((report.checkpoints, report.uncovered, report.stored_leaf_hashes), (1, 0, 0));

    let tmp = tempfile::tempdir().unwrap();
    let fork = log.signer.sign_checkpoint(&Checkpoint::new(ORIGIN, 10, [9; 32]).unwrap()).unwrap();
    let err = write_export(tmp.path(), log.entries[..10].to_vec(), no_hashes, &[log.notes[1].clone(), fork]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
}

#[test]
fn larger_exports_are_checked_in_parallel_in_order() {
    let signer = NoteSigner::generate().unwrap();
    let verifier = signer.verifier(ORIGIN).unwrap();
    let entries = entries(3000);
    let tree = MemoryTree::from_leaf_hashes(entries.iter().map(|e| leaf_hash(e)));
    let hashes: Vec<Hash> = (0..3000).map(|i| tree.node(0, i).unwrap()).collect();
    let notes: Vec<String> = [1000u64, 3000]
        .iter()
        .map(|&s| signer.sign_checkpoint(&Checkpoint::new(ORIGIN, s, root_at(s, &tree).unwrap()).unwrap()).unwrap())
        .collect();
    let export = |entries: Vec<Vec<u8>>| {
        let tmp = tempfile::tempdir().unwrap();
        write_export(tmp.path(), entries, hashes.clone(), &notes).unwrap();
        tmp
    };
    assert_eq!(verify_export(export(entries.clone()).path(), &verifier).unwrap().entries, 3000);
    let mut changed = entries.clone();
    change_byte(&mut changed[2500]);
    assert_eq!(message(verify_export(export(changed).path(), &verifier)), "entry 2500 does not match checkpoint of size 3000");
    let mut swapped = entries;
    swapped.swap(1000, 1001);
    assert_eq!(
        message(verify_export(export(swapped).path(), &verifier)),
        "entry 1000 has `index` 1001: an entry is missing, duplicated or out of order"
    );
}
