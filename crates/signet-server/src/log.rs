//! The tamper-evident log over HTTP.
//!
//! Public by nature: the newest signed checkpoint (`/log/checkpoint`), the
//! verifier key (`/log/key`) and proofs (`/log/v1/proof/…`: hashes only).
//! Operators only: the entries themselves, receipts and search.

use crate::AppState;
use crate::api::query;
use crate::extract::{Authed, LogReader};
use crate::problem::{ApiResult, Problem};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use signet_core::log::{consistency_proof, inclusion_proof};
use signet_core::ports::{EventFilter, StoredCheckpoint};
use signet_model::FieldError;
use signet_model::event::{Event, EventType};
use signet_model::ids::{CredentialId, Serial, SubjectId};
use std::sync::Arc;

type St = State<Arc<AppState>>;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/log/checkpoint", get(checkpoint))
        .route("/log/key", get(key))
        .route("/log/v1/entries", get(entries))
        .route("/log/v1/leaves", get(leaves))
        .route("/log/v1/checkpoints", get(checkpoints))
        .route("/log/v1/proof/inclusion", get(inclusion))
        .route("/log/v1/proof/consistency", get(consistency))
        .route("/log/v1/receipt/{credential}", get(receipt))
        .route("/log/v1/search", get(search))
}

fn hex(h: &[u8; 32]) -> String {
    signet_log::to_hex(h)
}

fn invalid(field: &str, reason: impl Into<String>) -> Problem {
    Problem::invalid(&FieldError::new(field, reason))
}

fn text(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// The newest signed checkpoint, a C2SP signed note.
async fn checkpoint(State(s): St) -> ApiResult<Response> {
    match s.authority.store().latest_checkpoint().await.map_err(Problem::from)? {
        Some(c) => Ok(text(c.note)),
        None => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "no-checkpoint",
            "no checkpoint yet",
            "the log has not been checkpointed yet; retry in a second",
        )),
    }
}

/// The log's verifier key (C2SP `name+keyid+key`), the same as `DATA/log.pub`.
async fn key(State(s): St) -> Response {
    text(format!("{}\n", s.log_key.verifier_key()))
}

/// The tree size the latest checkpoint covers: proofs are served up to it.
async fn signed_size(s: &AppState) -> Result<u64, Problem> {
    let latest = s.authority.store().latest_checkpoint().await.map_err(Problem::from)?;
    Ok(latest.map(|c| c.tree_size).unwrap_or(0))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntriesQuery {
    start: Option<i64>,
    limit: Option<u32>,
}

#[derive(Debug, Serialize)]
struct EntryView {
    index: i64,
    /// The exact entry bytes (UTF-8 JSON text) the leaf hash covers.
    entry: String,
    leaf_hash: String,
}

fn entry_view(e: signet_core::ports::LogEntry) -> EntryView {
    EntryView { index: e.index, leaf_hash: hex(&e.leaf_hash), entry: String::from_utf8_lossy(&e.entry).into_owned() }
}

async fn entries(
    State(s): St,
    _c: LogReader,
    q: Result<Query<EntriesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let q = query(q)?;
    let start = q.start.unwrap_or(0);
    if start < 0 {
        return Err(invalid("start", "must not be negative"));
    }
    let limit = q.limit.unwrap_or(1000);
    if limit == 0 || limit > 10_000 {
        return Err(invalid("limit", "use 1 to 10000"));
    }
    let items: Vec<EntryView> =
        s.authority.store().log_entries(start, limit).await.map_err(Problem::from)?.into_iter().map(entry_view).collect();
    Ok(Json(serde_json::json!({ "items": items })))
}

/// The leaf hashes the tree stores (not recomputed from the entries): what
/// an export needs to name a changed entry.
async fn leaves(
    State(s): St,
    _c: LogReader,
    q: Result<Query<EntriesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let q = query(q)?;
    let start = u64::try_from(q.start.unwrap_or(0)).map_err(|_| invalid("start", "must not be negative"))?;
    let limit = q.limit.unwrap_or(1000);
    if limit == 0 || limit > 10_000 {
        return Err(invalid("limit", "use 1 to 10000"));
    }
    let items: Vec<String> = s.authority.store().log_tree_leaves(start, limit).await.map_err(Problem::from)?.iter().map(hex).collect();
    Ok(Json(serde_json::json!({ "start": start, "items": items })))
}

#[derive(Debug, Serialize)]
struct CheckpointView {
    tree_size: u64,
    root_hash: String,
    note: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
}

fn checkpoint_view(c: StoredCheckpoint) -> CheckpointView {
    CheckpointView { tree_size: c.tree_size, root_hash: hex(&c.root_hash), note: c.note, created_at: c.created_at }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointsQuery {
    after: Option<u64>,
    limit: Option<u32>,
}

async fn checkpoints(
    State(s): St,
    _c: LogReader,
    q: Result<Query<CheckpointsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    let items: Vec<CheckpointView> = s
        .authority
        .store()
        .list_checkpoints(q.after.unwrap_or(0), limit)
        .await
        .map_err(Problem::from)?
        .into_iter()
        .map(checkpoint_view)
        .collect();
    Ok(Json(serde_json::json!({ "items": items })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InclusionQuery {
    index: u64,
    /// Default: the newest checkpoint's size.
    size: Option<u64>,
}

async fn inclusion(
    State(s): St,
    q: Result<Query<InclusionQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let q = query(q)?;
    let signed = signed_size(&s).await?;
    let size = q.size.unwrap_or(signed);
    if size == 0 || size > signed {
        return Err(invalid("size", format!("`{size}` is not a checkpointed tree size (the newest checkpoint has {signed} entries)")));
    }
    if q.index >= size {
        return Err(invalid("index", format!("`{}` is not in a tree of {size} entries", q.index)));
    }
    let proof = inclusion_proof(s.authority.store().as_ref(), q.index, size).await.map_err(Problem::from)?;
    Ok(Json(serde_json::json!({ "index": q.index, "tree_size": size, "proof": proof.iter().map(hex).collect::<Vec<_>>() })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyQuery {
    first: u64,
    second: Option<u64>,
}

async fn consistency(
    State(s): St,
    q: Result<Query<ConsistencyQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let q = query(q)?;
    let signed = signed_size(&s).await?;
    let second = q.second.unwrap_or(signed);
    if second == 0 || second > signed {
        return Err(invalid("second", format!("`{second}` is not a checkpointed tree size (the newest checkpoint has {signed} entries)")));
    }
    if q.first == 0 || q.first > second {
        return Err(invalid("first", format!("`{}` must be between 1 and `second` ({second})", q.first)));
    }
    let proof = consistency_proof(s.authority.store().as_ref(), q.first, second).await.map_err(Problem::from)?;
    Ok(Json(serde_json::json!({ "first": q.first, "second": second, "proof": proof.iter().map(hex).collect::<Vec<_>>() })))
}

/// Everything needed to check offline, with only the log's public key, that
/// a credential's issuance is in the log: the entry, its index, an inclusion
/// proof, and the signed checkpoint the proof leads to.
#[derive(Debug, Serialize)]
pub struct Receipt {
    pub index: i64,
    pub entry: String,
    pub leaf_hash: String,
    pub tree_size: u64,
    pub proof: Vec<String>,
    pub checkpoint: String,
}

/// A receipt for a credential: whoever may read the credential may have it.
async fn receipt(
    State(s): St,
    c: Authed,
    axum::Extension(rid): axum::Extension<crate::extract::RequestIdExt>,
    Path(id): Path<String>,
) -> ApiResult<Json<Receipt>> {
    let a = &s.authority;
    let ctx = crate::api::ctx(&c, &rid);
    let credential = if id.starts_with(CredentialId::PREFIX) {
        a.get_credential(ctx, &CredentialId::parse("credential", &id).map_err(|e| Problem::not_found(e.reason))?).await?
    } else {
        let serial = Serial::parse_hex("credential", &id)
            .map_err(|_| Problem::not_found(format!("`{}` is neither a credential id nor a serial", signet_model::names::shorten(&id))))?;
        a.get_credential_by_serial(ctx, &serial).await?
    };
    let store = a.store();
    let index = store.issuance_event_index(&credential.id).await.map_err(Problem::from)?.ok_or_else(Problem::internal)?;
    let Some(checkpoint) = store.latest_checkpoint().await.map_err(Problem::from)?.filter(|c| c.tree_size > index as u64) else {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "not-yet-checkpointed",
            "not checkpointed yet",
            format!("log entry {index} is not covered by a checkpoint yet; retry in a second"),
        ));
    };
    let entry = store.log_entries(index, 1).await.map_err(Problem::from)?.into_iter().next().ok_or_else(Problem::internal)?;
    // The index columns found the entry; the entry itself must record this issuance.
    let checked = issuance_entry(&entry, &credential.id).map_err(signet_core::CoreError::LogIntegrity);
    a.checked(checked).await?;
    let proof = inclusion_proof(store.as_ref(), index as u64, checkpoint.tree_size).await.map_err(Problem::from)?;
    Ok(Json(Receipt {
        index,
        leaf_hash: hex(&entry.leaf_hash),
        entry: String::from_utf8_lossy(&entry.entry).into_owned(),
        tree_size: checkpoint.tree_size,
        proof: proof.iter().map(hex).collect(),
        checkpoint: checkpoint.note,
    }))
}

/// Is `entry` the `credential.issued` entry of `credential`, hashing to its leaf hash?
fn issuance_entry(entry: &signet_core::ports::LogEntry, credential: &CredentialId) -> Result<(), String> {
    let index = entry.index;
    if signet_core::log::leaf_hash(&entry.entry) != entry.leaf_hash {
        return Err(format!("log entry {index} fails verification: its bytes do not hash to the leaf hash stored beside them"));
    }
    let decoded = signet_core::log::decode_entry(&entry.entry).map_err(|e| format!("log entry {index} fails verification: {e}"))?;
    let e = &decoded.event;
    if decoded.index != index || e.event_type != EventType::CredentialIssued || e.credential_id.as_ref() != Some(credential) {
        return Err(format!(
            "log entry {index} fails verification: its index columns name the issuance of `{credential}`, it records another event"
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    subject: Option<String>,
    credential: Option<String>,
    actor: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    /// RFC 3339 or unix seconds, inclusive.
    since: Option<String>,
    /// RFC 3339 or unix seconds, exclusive.
    until: Option<String>,
    after: Option<i64>,
    limit: Option<u32>,
}

fn parse_time(field: &str, v: &str) -> Result<i64, Problem> {
    if let Ok(n) = v.parse::<i64>() {
        return Ok(n);
    }
    time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| invalid(field, format!("`{}` is not an RFC 3339 time or unix seconds", signet_model::names::shorten(v))))
}

async fn search(
    State(s): St,
    _c: LogReader,
    q: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > 10_000 {
        return Err(invalid("limit", "use 1 to 10000"));
    }
    let filter = EventFilter {
        subject_id: q.subject.as_deref().map(|v| SubjectId::parse("subject", v)).transpose().map_err(|e| Problem::invalid(&e))?,
        credential_id: q
            .credential
            .as_deref()
            .map(|v| CredentialId::parse("credential", v))
            .transpose()
            .map_err(|e| Problem::invalid(&e))?,
        actor: q.actor,
        event_type: q.event_type.as_deref().map(|v| EventType::parse("type", v)).transpose().map_err(|e| Problem::invalid(&e))?,
        since: q.since.as_deref().map(|v| parse_time("since", v)).transpose()?,
        until: q.until.as_deref().map(|v| parse_time("until", v)).transpose()?,
        after: q.after.unwrap_or(-1),
        limit,
    };
    let read = s.authority.store().search_events(&filter).await.map_err(signet_core::CoreError::from);
    let items: Vec<Event> = s.authority.checked(read).await?;
    Ok(Json(serde_json::json!({ "items": items })))
}
