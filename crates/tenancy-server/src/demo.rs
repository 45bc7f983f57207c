//! The demo application: the notes workload, built only on the library's public API.
//!
//! `GET /notes?limit=N`, `POST /notes`, `GET /notes/{id}`, `DELETE /notes/{id}`, each
//! answered from the database of the tenant the request's host names.

use std::future::Future;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use tenancy::sqlx;
use tenancy::{
    BoxError, BoxFuture, Connection, EmbeddedMigration, Seeder, Tenant, TenantMigrations,
};
use tenancy_axum::{Problem, TenantDb};

use crate::notes::{self, Note, NotesDb};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How many notes a listing returns when `limit` is not given, and at most.
const DEFAULT_LIMIT: i64 = 10;
const MAX_LIMIT: i64 = 100;

/// How many notes the demo seeder writes into each tenant.
pub const SEED_NOTES: usize = 5;

/// The demo's tenant migrations, built into the binary, one file per backend.
pub fn migrations() -> TenantMigrations {
    let notes = |sql| {
        [EmbeddedMigration {
            version: 1,
            description: "notes",
            sql,
        }]
    };
    TenantMigrations::per_backend(
        &notes(include_str!("../migrations/sqlite/0001_notes.sql")),
        &notes(include_str!("../migrations/postgres/0001_notes.sql")),
        &notes(include_str!("../migrations/mysql/0001_notes.sql")),
    )
}

/// The notes routes, served on tenant hosts.
pub fn router() -> Router {
    router_with::<TenantDb>()
}

/// The notes routes with connections from `S` instead of the request's tenant database.
///
/// The benchmarks' no-tenancy baseline serves these same handlers from one shared pool, so
/// that the two differ only in where the connection comes from.
pub fn router_with<S: NotesStore>() -> Router {
    Router::new()
        .route("/notes", get(list_notes::<S>).post(create_note::<S>))
        .route("/notes/{id}", get(show_note::<S>).delete(delete_note::<S>))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
}

/// Where the notes handlers get their connection: an extractor, then a checkout.
pub trait NotesStore: FromRequestParts<()> + Send + Sync + 'static {
    /// A checked-out connection, returned to its pool when dropped.
    type Conn: Send;

    /// Checks out a connection; a failure is the response.
    fn acquire(&self) -> impl Future<Output = Result<Self::Conn, Problem>> + Send;

    /// The notes database behind a checked-out connection.
    fn notes_db(conn: &mut Self::Conn) -> NotesDb<'_>;
}

impl NotesStore for TenantDb {
    type Conn = tenancy::PooledConnection;

    async fn acquire(&self) -> Result<Self::Conn, Problem> {
        TenantDb::acquire(self).await
    }

    fn notes_db(conn: &mut Self::Conn) -> NotesDb<'_> {
        NotesDb::from(&mut **conn)
    }
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    limit: Option<String>,
}

#[derive(Debug, Deserialize)]
struct NewNote {
    title: String,
    body: String,
}

fn database_error(error: sqlx::Error) -> Problem {
    Problem::from(tenancy::Error::Database(error))
}

fn parse_limit(query: Result<Query<ListQuery>, QueryRejection>) -> Result<i64, Problem> {
    let bad = |detail: String| Problem::new(StatusCode::BAD_REQUEST, "invalid_limit", detail);
    let Query(query) = query.map_err(|rejection| bad(rejection.body_text()))?;
    let Some(raw) = query.limit else {
        return Ok(DEFAULT_LIMIT);
    };
    match raw.parse::<i64>() {
        Ok(limit) if (1..=MAX_LIMIT).contains(&limit) => Ok(limit),
        _ => Err(bad(format!(
            "limit must be a whole number from 1 to {MAX_LIMIT}, got '{raw}'"
        ))),
    }
}

async fn list_notes<S: NotesStore>(
    db: S,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<Note>>, Problem> {
    let limit = parse_limit(query)?;
    let mut conn = db.acquire().await?;

    let notes = notes::list(S::notes_db(&mut conn), limit)
        .await
        .map_err(database_error)?;
    Ok(Json(notes))
}

fn note_from_json(body: Result<Json<NewNote>, JsonRejection>) -> Result<NewNote, Problem> {
    let Json(note) = body.map_err(json_problem)?;
    for (field, value) in [("title", &note.title), ("body", &note.body)] {
        if value.trim().is_empty() {
            let detail = format!("'{field}' must not be empty");
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_note",
                detail,
            ));
        }
    }
    Ok(note)
}

fn json_problem(rejection: JsonRejection) -> Problem {
    let detail = rejection.body_text();
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let detail = format!("the body is larger than {MAX_BODY_BYTES} bytes");
        return Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", detail);
    }
    match rejection {
        JsonRejection::JsonDataError(_) => {
            Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_note", detail)
        }
        JsonRejection::MissingJsonContentType(_) => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            detail,
        ),
        _ => Problem::new(StatusCode::BAD_REQUEST, "malformed_json", detail),
    }
}

async fn create_note<S: NotesStore>(
    db: S,
    body: Result<Json<NewNote>, JsonRejection>,
) -> Result<Response, Problem> {
    let note = note_from_json(body)?;
    let mut conn = db.acquire().await?;

    let created = notes::insert(S::notes_db(&mut conn), &note.title, &note.body)
        .await
        .map_err(database_error)?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

fn note_id(path: Result<Path<i64>, PathRejection>) -> Result<i64, Problem> {
    path.map(|Path(id)| id).map_err(|_| note_not_found())
}

fn note_not_found() -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        "note_not_found",
        "no note has this id",
    )
}

async fn show_note<S: NotesStore>(
    db: S,
    path: Result<Path<i64>, PathRejection>,
) -> Result<Json<Note>, Problem> {
    let id = note_id(path)?;
    let mut conn = db.acquire().await?;

    let note = notes::get(S::notes_db(&mut conn), id)
        .await
        .map_err(database_error)?;
    note.map(Json).ok_or_else(note_not_found)
}

async fn delete_note<S: NotesStore>(
    db: S,
    path: Result<Path<i64>, PathRejection>,
) -> Result<StatusCode, Problem> {
    let id = note_id(path)?;
    let mut conn = db.acquire().await?;

    let deleted = notes::delete(S::notes_db(&mut conn), id)
        .await
        .map_err(database_error)?;
    match deleted {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(note_not_found()),
    }
}

async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Seeds a tenant with notes whose titles start with the tenant's id.
#[derive(Debug, Clone, Copy)]
pub struct NotesSeeder {
    /// How many notes each tenant gets.
    pub notes: usize,
}

impl Default for NotesSeeder {
    fn default() -> Self {
        NotesSeeder { notes: SEED_NOTES }
    }
}

impl Seeder for NotesSeeder {
    fn seed<'a>(
        &'a self,
        tenant: &'a Tenant,
        conn: &'a mut Connection,
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let seeded: Vec<(String, String)> = (1..=self.notes)
                .map(|n| {
                    let title = format!("{}: note {n}", tenant.id);
                    (title, format!("Seeded note {n} for {}", tenant.name))
                })
                .collect();
            notes::insert_many(NotesDb::from(conn), &seeded).await?;
            Ok(())
        })
    }
}
