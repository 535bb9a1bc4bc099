//! The export directory and its offline verification.
//!
//! # Layout
//!
//! ```text
//! DIR/
//!   entries.jsonl           line i = the exact bytes of entry i, then "\n"
//!   leaf-hashes.txt         line i = lower-case hex of the leaf hash the log
//!                           *stored* for entry i (level-0 tree node), then "\n";
//!                           may be shorter than entries.jsonl (entries not yet
//!                           integrated into the tree), may be empty
//!   checkpoints/
//!     00000000000000001000.note   one signed checkpoint note per file, named
//!     00000000000000001024.note   by its tree size, zero-padded to 20 digits
//! ```
//!
//! # Entry fields the verifier requires
//!
//! Each entry is a JSON object (the line starts with `{`) with, at top level:
//!
//! | field | rule | what it catches |
//! |---|---|---|
//! | `index` | unsigned integer = the line number (0-based) | a deleted, duplicated or moved entry, named at the first line out of place |
//! | `prev` | 64 lower-case hex digits = the leaf hash of entry `index − 1` (64 zeros for entry 0) | a changed entry even where no checkpoint or stored leaf hash covers it: the chain breaks at the next entry |
//!
//! Other fields are opaque. `leaf-hashes.txt` must come from the stored tree
//! nodes, never be recomputed from the entries: it is an untrusted *hint*
//! that names a changed entry exactly once a signed checkpoint has
//! authenticated it.
//!
//! # What is trusted
//!
//! Only the checkpoints signed by the verifier's key. Anyone able to edit the
//! database or the export can edit entries, leaf hashes and `index` fields
//! alike; what they cannot do is make altered entries hash to a signed root.
//!
//! # Verification, in order
//!
//! 1. Open every `checkpoints/*.note` with the key (signature, syntax, origin
//!    = key name). Two checkpoints of one size with different roots are a
//!    split view: error.
//! 2. Stream `entries.jsonl` (leaf hashing and JSON checks in parallel),
//!    appending each leaf to a [`CompactRange`]; read `leaf-hashes.txt`
//!    alongside. At each checkpoint size, the recomputed root must equal the
//!    signed root.
//! 3. Locate the first bad index:
//!    - a line that is not a JSON object with the right `index` and a `prev`
//!      is bad at once (this names deletions and reorderings);
//!    - the first line `d` whose leaf hash differs from its stored leaf hash is
//!      held until the next checkpoint: if the stored leaf hashes reproduce its
//!      root, they are authentic and entry `d` was changed ("entry d does not
//!      match checkpoint of size s"); if the entries reproduce it, the stored
//!      tree is damaged; if neither, both were changed and no checkpoint says
//!      which;
//!    - otherwise, a `prev` that is not the previous entry's leaf hash names
//!      those two entries (the previous one's content or this one's `prev`
//!      was changed);
//!    - a checkpoint whose root differs while nothing above located the
//!      change (entries and stored leaf hashes rewritten together, no stored
//!      leaf hashes, unbroken chain) names the interval between the last good
//!      checkpoint and it;
//!    - fewer entries than the largest checkpoint (or than stored leaf
//!      hashes) is a truncation: the first missing index is named.
//! 4. Check a consistency proof between each pair of successive checkpoints
//!    (computed from the recomputed tree: implied by step 2, checked as a
//!    monitor would).
//! 5. Entries after the largest checkpoint are reported, not rejected: they
//!    are waiting for the next checkpoint.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::hash::{Hash, from_hex, leaf_hash, to_hex};
use crate::note::{open_checkpoint, unverified_checkpoint};
use crate::{Checkpoint, CompactRange, LogError, NodeSource, Verifier, consistency_proof, verify_consistency};

/// The entries file: one entry per line.
pub const ENTRIES_FILE: &str = "entries.jsonl";
/// The stored leaf hashes: one lower-case hex hash per line.
pub const LEAF_HASHES_FILE: &str = "leaf-hashes.txt";
/// The directory of signed checkpoint notes.
pub const CHECKPOINTS_DIR: &str = "checkpoints";

/// The file name of the checkpoint of `size`.
pub fn checkpoint_file_name(size: u64) -> String {
    format!("{size:020}.note")
}

/// Write an export into `dir` (created if needed; existing export files are
/// never overwritten).
///
/// - `entries`: the entry bytes in index order, exactly as logged (no `\n`).
/// - `stored_leaf_hashes`: the level-0 node hashes in index order as the
///   sequencer stored them (read them from the node table, do not recompute
///   them from the entries, or they cannot locate a changed entry).
/// - `checkpoints`: signed checkpoint notes; the same note may appear twice,
///   two different notes of one size may not.
pub fn write_export(
    dir: &Path,
    entries: impl IntoIterator<Item = Vec<u8>>,
    stored_leaf_hashes: impl IntoIterator<Item = Hash>,
    checkpoints: &[String],
) -> io::Result<()> {
    let checkpoints_dir = dir.join(CHECKPOINTS_DIR);
    fs::create_dir_all(&checkpoints_dir)?;

    let mut out = BufWriter::with_capacity(1 << 20, File::create_new(dir.join(ENTRIES_FILE))?);
    for (index, entry) in entries.into_iter().enumerate() {
        if entry.contains(&b'\n') {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("entry {index} contains a newline")));
        }
        out.write_all(&entry)?;
        out.write_all(b"\n")?;
    }
    finish(out)?;

    let mut out = BufWriter::with_capacity(1 << 20, File::create_new(dir.join(LEAF_HASHES_FILE))?);
    for hash in stored_leaf_hashes {
        out.write_all(to_hex(&hash).as_bytes())?;
        out.write_all(b"\n")?;
    }
    finish(out)?;

    let mut written: BTreeMap<u64, &str> = BTreeMap::new();
    for note in checkpoints {
        let size = unverified_checkpoint(note).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?.size();
        match written.get(&size) {
            Some(previous) if previous == note => continue,
            Some(_) => return Err(io::Error::new(io::ErrorKind::InvalidData, format!("two different checkpoints of size {size}"))),
            None => {}
        }
        let mut out = BufWriter::new(File::create_new(checkpoints_dir.join(checkpoint_file_name(size)))?);
        out.write_all(note.as_bytes())?;
        finish(out)?;
        written.insert(size, note);
    }
    Ok(())
}

fn finish(out: BufWriter<File>) -> io::Result<()> {
    out.into_inner().map_err(io::IntoInnerError::into_error)?.sync_all()
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Lines in `entries.jsonl`.
    pub entries: u64,
    /// Distinct checkpoints verified.
    pub checkpoints: usize,
    /// The largest verified checkpoint: compare it with one obtained
    /// elsewhere (the server, a witness) to detect a truncated export.
    pub latest: Checkpoint,
    /// Entries after the largest checkpoint, not yet covered by a signature.
    pub uncovered: u64,
    /// Lines in `leaf-hashes.txt`.
    pub stored_leaf_hashes: u64,
    /// Things worth knowing that do not fail the verification.
    pub warnings: Vec<String>,
}

/// Why an export does not verify. Entry indexes are 0-based line numbers.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A file or directory cannot be read.
    #[error("cannot read `{}`: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// A checkpoint note does not open with the key.
    #[error("checkpoint `{}`: {source}", path.display())]
    Checkpoint { path: PathBuf, source: LogError },
    /// Nothing to verify against.
    #[error("the export holds no checkpoint")]
    NoCheckpoint,
    /// Two signed checkpoints of one size with different roots.
    #[error("checkpoints `{}` and `{}` have the same size {size} but different roots: the log showed two histories", first.display(), second.display())]
    SplitView { size: u64, first: PathBuf, second: PathBuf },
    /// A line that is not a JSON object with a numeric `index`.
    #[error("entry {index} is malformed: {reason}")]
    MalformedEntry { index: u64, reason: String },
    /// A `prev` that is not the leaf hash of the entry before.
    #[error("{}", chain_break_message(*index))]
    ChainBreak { index: u64 },
    /// A line whose `index` is not its line number.
    #[error("entry {index} has `index` {found}: an entry is missing, duplicated or out of order")]
    IndexMismatch { index: u64, found: u64 },
    /// Entry `index` was changed: the stored leaf hashes reproduce the
    /// checkpoint's root, and this entry's hash differs from its stored one.
    #[error("entry {index} does not match checkpoint of size {checkpoint_size}")]
    EntryMismatch { index: u64, checkpoint_size: u64 },
    /// The entries reproduce the checkpoint, but a stored leaf hash differs.
    #[error(
        "stored leaf hash {index} does not match entry {index}, which checkpoint of size {checkpoint_size} authenticates: the stored tree is damaged"
    )]
    StoredLeafMismatch { index: u64, checkpoint_size: u64 },
    /// Entry and stored leaf hash differ, and no checkpoint says which is right.
    #[error(
        "entry {index} does not match the leaf hash the log stored for it, and no verified checkpoint tells which of the two was changed"
    )]
    EntryDiffersFromStoredLeaf { index: u64 },
    /// The root differs, and nothing locates the entry within the interval.
    #[error(
        "an entry in {from}..{checkpoint_size} does not match checkpoint of size {checkpoint_size} (the stored leaf hashes do not locate it)"
    )]
    RangeMismatch { from: u64, checkpoint_size: u64 },
    /// The entries stop before the end of a checkpoint.
    #[error("entry {index} is missing: the export ends after {index} entries, checkpoint of size {checkpoint_size} covers more")]
    Truncated { index: u64, checkpoint_size: u64 },
    /// The entries stop before the end of the stored leaf hashes.
    #[error("entry {index} is missing: the export ends after {index} entries, the log stored {stored} leaf hashes")]
    TruncatedBeforeStoredLeaves { index: u64, stored: u64 },
    /// A line of `leaf-hashes.txt` that is not 64 lower-case hex digits.
    #[error("line {line} of leaf-hashes.txt is not a lower-case hex SHA-256 hash")]
    MalformedLeafHash { line: u64 },
    /// Successive checkpoints that no consistency proof connects.
    #[error("checkpoints of sizes {first} and {second} are not consistent: {source}")]
    Inconsistent { first: u64, second: u64, source: LogError },
    /// A bug or a failed worker thread.
    #[error("internal error: {0}")]
    Internal(String),
}

fn chain_break_message(index: u64) -> String {
    match index.checked_sub(1) {
        None => "entry 0 was changed: its `prev` is not 64 zeros".to_owned(),
        Some(before) => {
            format!("entry {before} or entry {index} was changed: the `prev` of entry {index} is not the leaf hash of entry {before}")
        }
    }
}

impl VerifyError {
    /// The first entry index the error names, if it names one: for a chain
    /// break, the earlier of the two entries. `None` for errors that are not
    /// about one entry, including [`RangeMismatch`](Self::RangeMismatch),
    /// which only knows an interval.
    pub fn first_bad_index(&self) -> Option<u64> {
        match self {
            Self::MalformedEntry { index, .. }
            | Self::IndexMismatch { index, .. }
            | Self::EntryMismatch { index, .. }
            | Self::StoredLeafMismatch { index, .. }
            | Self::EntryDiffersFromStoredLeaf { index }
            | Self::Truncated { index, .. }
            | Self::TruncatedBeforeStoredLeaves { index, .. } => Some(*index),
            Self::ChainBreak { index } => Some(index.saturating_sub(1)),
            _ => None,
        }
    }
}

/// Verify the export in `dir` against the log key `verifier`; see the
/// module documentation for the checks and their order.
pub fn verify_export(dir: &Path, verifier: &Verifier) -> Result<VerifyReport, VerifyError> {
    let mut warnings = Vec::new();
    let checkpoints = read_checkpoints(&dir.join(CHECKPOINTS_DIR), verifier, &mut warnings)?;
    let Some(latest) = checkpoints.last().map(|(_, cp)| cp.clone()) else {
        return Err(VerifyError::NoCheckpoint);
    };

    let hints_path = dir.join(LEAF_HASHES_FILE);
    let hints = match File::open(&hints_path) {
        Ok(file) => Some(HintReader { lines: BufReader::with_capacity(1 << 20, file), path: hints_path, read: 0, line: Vec::new() }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            warnings.push(format!("no {LEAF_HASHES_FILE}: a changed entry can only be located to a checkpoint interval"));
            None
        }
        Err(source) => return Err(VerifyError::Io { path: hints_path, source }),
    };

    let sizes: Vec<u64> = checkpoints.iter().map(|(_, cp)| cp.size()).collect();
    let wanted = nodes_for_consistency(&sizes)?;
    let mut walk = Walk {
        checkpoints: &checkpoints,
        next_checkpoint: 0,
        last_good: 0,
        tree: CompactRange::empty(),
        hints,
        hint_tree: None,
        divergence: None,
        last_leaf: [0; 32],
        failed_range: None,
        wanted,
        captured: HashMap::new(),
    };
    walk.check_boundaries()?;
    let entries = stream_entries(&dir.join(ENTRIES_FILE), &mut walk)?;
    let stored_leaf_hashes = walk.finish(entries)?;

    let captured = MapSource(walk.captured);
    for pair in checkpoints.windows(2) {
        let [(_, a), (_, b)] = pair else { continue };
        if a.size() == 0 {
            continue;
        }
        let inconsistent = |source| VerifyError::Inconsistent { first: a.size(), second: b.size(), source };
        let proof = consistency_proof(a.size(), b.size(), &captured).map_err(inconsistent)?;
        verify_consistency(a.size(), b.size(), a.root(), b.root(), &proof).map_err(inconsistent)?;
    }

    let uncovered = entries - latest.size();
    if uncovered > 0 {
        warnings.push(format!("{uncovered} entries not yet covered by a checkpoint"));
    }
    Ok(VerifyReport { entries, checkpoints: checkpoints.len(), latest, uncovered, stored_leaf_hashes, warnings })
}

/// Open every `*.note` file; sorted by size, one per size.
fn read_checkpoints(dir: &Path, verifier: &Verifier, warnings: &mut Vec<String>) -> Result<Vec<(PathBuf, Checkpoint)>, VerifyError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| VerifyError::Io { path, source }
    };
    let listing = match fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(VerifyError::NoCheckpoint),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut by_size: BTreeMap<u64, (PathBuf, Checkpoint)> = BTreeMap::new();
    for item in listing {
        let path = item.map_err(io_err(dir))?.path();
        if path.extension().is_none_or(|ext| ext != "note") {
            warnings.push(format!("ignored `{}`: not a .note file", path.display()));
            continue;
        }
        let bytes = fs::read(&path).map_err(io_err(&path))?;
        let checkpoint = String::from_utf8(bytes)
            .map_err(|_| LogError::MalformedNote("not UTF-8"))
            .and_then(|note| open_checkpoint(&note, verifier))
            .map_err(|source| VerifyError::Checkpoint { path: path.clone(), source })?;
        match by_size.get(&checkpoint.size()) {
            Some((first, seen)) if seen.root() != checkpoint.root() => {
                return Err(VerifyError::SplitView { size: checkpoint.size(), first: first.clone(), second: path });
            }
            Some(_) => {}
            None => {
                by_size.insert(checkpoint.size(), (path, checkpoint));
            }
        }
    }
    Ok(by_size.into_values().collect())
}

/// The nodes the consistency proofs between successive sizes will read,
/// found by a dry run over a source that records requests.
fn nodes_for_consistency(sizes: &[u64]) -> Result<HashSet<(u8, u64)>, VerifyError> {
    struct Recorder(RefCell<HashSet<(u8, u64)>>);
    impl NodeSource for Recorder {
        fn node(&self, level: u8, index: u64) -> Result<Hash, LogError> {
            self.0.borrow_mut().insert((level, index));
            Ok([0; 32])
        }
    }
    let recorder = Recorder(RefCell::new(HashSet::new()));
    for pair in sizes.windows(2) {
        if let [m, n] = pair {
            consistency_proof(*m, *n, &recorder).map_err(|e| VerifyError::Internal(e.to_string()))?;
        }
    }
    Ok(recorder.0.into_inner())
}

/// Nodes captured during the stream.
struct MapSource(HashMap<(u8, u64), Hash>);

impl NodeSource for MapSource {
    fn node(&self, level: u8, index: u64) -> Result<Hash, LogError> {
        self.0.get(&(level, index)).copied().ok_or(LogError::MissingNode { level, index })
    }
}

/// Reads `leaf-hashes.txt` one line per entry.
struct HintReader {
    lines: BufReader<File>,
    path: PathBuf,
    read: u64,
    line: Vec<u8>,
}

impl HintReader {
    fn next(&mut self) -> Result<Option<Hash>, VerifyError> {
        self.line.clear();
        let n = self.lines.read_until(b'\n', &mut self.line).map_err(|source| VerifyError::Io { path: self.path.clone(), source })?;
        if n == 0 {
            return Ok(None);
        }
        let hash = self.line.strip_suffix(b"\n").and_then(from_hex).ok_or(VerifyError::MalformedLeafHash { line: self.read })?;
        self.read += 1;
        Ok(Some(hash))
    }
}

/// The state of the stream over the entries.
struct Walk<'a> {
    /// Sorted by size, one per size.
    checkpoints: &'a [(PathBuf, Checkpoint)],
    /// The first checkpoint not yet reached.
    next_checkpoint: usize,
    /// The size of the last checkpoint the entries matched.
    last_good: u64,
    /// The tree of the entries read so far.
    tree: CompactRange,
    hints: Option<HintReader>,
    /// After a divergence: the tree of the stored leaf hashes, while they last.
    hint_tree: Option<CompactRange>,
    /// The first index whose entry and stored leaf hash differ.
    divergence: Option<u64>,
    /// The leaf hash of the last entry (64 zero bytes before entry 0).
    last_leaf: Hash,
    /// A failed checkpoint `(last good size, size)`, reported after one more
    /// entry so that a chain break there can name the entry instead.
    failed_range: Option<(u64, u64)>,
    wanted: HashSet<(u8, u64)>,
    captured: HashMap<(u8, u64), Hash>,
}

impl Walk<'_> {
    /// Take in entry `index`.
    fn step(&mut self, index: u64, entry: EntryFacts) -> Result<(), VerifyError> {
        // 1. The line itself. A divergence or failed checkpoint found earlier
        //    concerns an earlier entry and is reported first.
        let earlier_finding = self.divergence.is_some() || self.failed_range.is_some();
        let prev = match entry.fields {
            Ok(prev) => Some(prev),
            Err(problem) if !earlier_finding => return Err(problem.into_error(index)),
            Err(_) => None,
        };
        // 2. The stored leaf hash.
        match self.hints.as_mut().map(HintReader::next).transpose()?.flatten() {
            Some(hint) => {
                if self.divergence.is_none() && hint != entry.leaf {
                    self.divergence = Some(index);
                    self.hint_tree = Some(self.tree.clone());
                }
                if let Some(hint_tree) = self.hint_tree.as_mut() {
                    hint_tree.append(hint);
                }
            }
            None => self.hint_tree = None,
        }
        // 3. The chain, unless a divergence (which names the entry exactly
        //    once a checkpoint decides) is pending.
        if self.divergence.is_none() && prev.is_some_and(|p| p != self.last_leaf) {
            return Err(VerifyError::ChainBreak { index });
        }
        if let Some((from, checkpoint_size)) = self.failed_range {
            return Err(VerifyError::RangeMismatch { from, checkpoint_size });
        }
        // 4. The tree.
        let (wanted, captured) = (&self.wanted, &mut self.captured);
        self.tree.append_with(entry.leaf, |level, index, hash| {
            if wanted.contains(&(level, index)) {
                captured.insert((level, index), *hash);
            }
        });
        self.last_leaf = entry.leaf;
        self.check_boundaries()
    }

    /// Check every checkpoint whose size the stream has just reached.
    fn check_boundaries(&mut self) -> Result<(), VerifyError> {
        while let Some((_, checkpoint)) = self.checkpoints.get(self.next_checkpoint).filter(|(_, cp)| cp.size() == self.tree.size()) {
            let size = checkpoint.size();
            let entries_match = self.tree.root() == *checkpoint.root();
            match (self.divergence, entries_match) {
                (None, true) => self.last_good = size,
                (None, false) => {
                    self.failed_range = Some((self.last_good, size));
                    return Ok(());
                }
                (Some(index), true) => return Err(VerifyError::StoredLeafMismatch { index, checkpoint_size: size }),
                (Some(index), false) => {
                    let hints_match = self.hint_tree.as_ref().is_some_and(|t| t.size() == size && t.root() == *checkpoint.root());
                    return Err(if hints_match {
                        VerifyError::EntryMismatch { index, checkpoint_size: size }
                    } else {
                        VerifyError::EntryDiffersFromStoredLeaf { index }
                    });
                }
            }
            self.next_checkpoint += 1;
        }
        Ok(())
    }

    /// After the last entry: truncation checks. Returns the number of stored
    /// leaf hashes.
    fn finish(&mut self, entries: u64) -> Result<u64, VerifyError> {
        if let Some(index) = self.divergence {
            return Err(VerifyError::EntryDiffersFromStoredLeaf { index });
        }
        if let Some((from, checkpoint_size)) = self.failed_range {
            return Err(VerifyError::RangeMismatch { from, checkpoint_size });
        }
        if let Some((_, checkpoint)) = self.checkpoints.get(self.next_checkpoint) {
            return Err(VerifyError::Truncated { index: entries, checkpoint_size: checkpoint.size() });
        }
        let Some(hints) = self.hints.as_mut() else { return Ok(0) };
        let mut stored = hints.read;
        while hints.next()?.is_some() {
            stored += 1;
        }
        if stored > entries {
            return Err(VerifyError::TruncatedBeforeStoredLeaves { index: entries, stored });
        }
        Ok(stored)
    }
}

/// What is wrong with one line, found by the parallel workers.
enum EntryProblem {
    Malformed(String),
    WrongIndex(u64),
}

impl EntryProblem {
    fn into_error(self, index: u64) -> VerifyError {
        match self {
            Self::Malformed(reason) => VerifyError::MalformedEntry { index, reason },
            Self::WrongIndex(found) => VerifyError::IndexMismatch { index, found },
        }
    }
}

/// What the parallel workers find out about one line.
struct EntryFacts {
    leaf: Hash,
    /// The entry's `prev`, or what is wrong with the line.
    fields: Result<Hash, EntryProblem>,
}

/// The fields verification reads; the others are skipped.
#[derive(Deserialize)]
struct RequiredFields<'a> {
    index: u64,
    prev: &'a str,
}

/// Hash one line and check its JSON shape, `index` and `prev`.
fn check_entry(index: u64, line: &[u8]) -> EntryFacts {
    let fields = if line.first() != Some(&b'{') {
        Err(EntryProblem::Malformed("not a JSON object".to_owned()))
    } else {
        match serde_json::from_slice::<RequiredFields<'_>>(line) {
            Ok(fields) if fields.index != index => Err(EntryProblem::WrongIndex(fields.index)),
            Ok(fields) => {
                from_hex(fields.prev.as_bytes()).ok_or_else(|| EntryProblem::Malformed("`prev` is not 64 lower-case hex digits".to_owned()))
            }
            Err(e) => Err(EntryProblem::Malformed(e.to_string())),
        }
    };
    EntryFacts { leaf: leaf_hash(line), fields }
}

/// Bytes read per batch of entries.
const BATCH_BYTES: u64 = 8 << 20;

/// Stream `entries.jsonl` through `walk` in batches of whole lines, hashing
/// and checking each batch on all cores. Returns the number of entries.
fn stream_entries(path: &Path, walk: &mut Walk<'_>) -> Result<u64, VerifyError> {
    let io_err = |source| VerifyError::Io { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(io_err)?;
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let mut next_index = 0u64;
    let mut carry = Vec::new();
    loop {
        let mut batch = std::mem::take(&mut carry);
        let read = Read::take(&mut file, BATCH_BYTES).read_to_end(&mut batch).map_err(io_err)?;
        let whole = batch.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        carry = batch.split_off(whole);
        let mut lines: Vec<&[u8]> = batch.split(|&b| b == b'\n').collect();
        // `batch` is empty or ends with a newline: drop the empty remainder.
        lines.pop();
        for (offset, entry) in check_lines(next_index, &lines, workers)?.into_iter().enumerate() {
            walk.step(next_index + offset as u64, entry)?;
        }
        next_index += lines.len() as u64;
        if read == 0 {
            if !carry.is_empty() {
                return Err(VerifyError::MalformedEntry {
                    index: next_index,
                    reason: "the last line does not end with a newline".to_owned(),
                });
            }
            return Ok(next_index);
        }
    }
}

/// [`check_entry`] over `lines`, split across `workers` threads.
fn check_lines(first_index: u64, lines: &[&[u8]], workers: usize) -> Result<Vec<EntryFacts>, VerifyError> {
    let check =
        |start: u64, part: &[&[u8]]| part.iter().enumerate().map(|(i, line)| check_entry(start + i as u64, line)).collect::<Vec<_>>();
    if workers <= 1 || lines.len() < 256 {
        return Ok(check(first_index, lines));
    }
    let per_worker = lines.len().div_ceil(workers);
    std::thread::scope(|scope| {
        let handles: Vec<_> = lines
            .chunks(per_worker)
            .enumerate()
            .map(|(n, part)| scope.spawn(move || check(first_index + (n * per_worker) as u64, part)))
            .collect();
        let mut all = Vec::with_capacity(lines.len());
        for handle in handles {
            all.extend(handle.join().map_err(|_| VerifyError::Internal("an entry-checking thread failed".to_owned()))?);
        }
        Ok(all)
    })
}
