//! A user's stored files (WildDuck's `lib/api/storage.js`): upload, list (by filename, with
//! WildDuck's paging and `query`), download, delete. The store keeps each file's content as
//! one deduplicated blob; this shell checks input and shapes answers.

use axum::Extension;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use serde_json::json;
use wildduck_store::mime::parsed::iso_date;
use wildduck_store::{FileId, NewFile, StoredFile, UserId};

use super::{JsonResult, Shared, success};
use crate::auth::{Access, Action, Resource};
use crate::error::{ApiError, ApiResult};
use crate::input::{Input, JsonBody, QueryInput, hex_id, user_param};
use crate::paging::PageRequest;

/// WildDuck's `MAX_ALLOWED_MESSAGE_SIZE`: the largest `content` it takes.
const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

/// Base64 as libbase64 decodes it: padding optional.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub async fn upload(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let mut input = Input::new(body);
    let filename = non_empty(input.string_max("filename", 255));
    let content_type = non_empty(input.string_max("contentType", 255));
    let cid = non_empty(input.string_max("cid", 255));
    let base64 = match non_empty(input.string("encoding")).as_deref() {
        None => false,
        Some("base64") => true,
        Some(_) => {
            input.fail("encoding", "\"encoding\" must be [base64]".to_string());
            false
        }
    };
    let content = non_empty(input.string("content"));
    if content.is_none() {
        input.fail("content", "\"content\" is required".to_string());
    }
    let content = content.and_then(|text| {
        let bytes = if base64 {
            let compact: String = text.split_ascii_whitespace().collect();
            match LENIENT_BASE64.decode(compact) {
                Ok(bytes) => bytes,
                Err(_) => {
                    input.fail("content", "\"content\" is not valid base64".to_string());
                    return None;
                }
            }
        } else {
            text.into_bytes()
        };
        if bytes.len() > MAX_FILE_BYTES {
            input.fail(
                "content",
                format!("\"content\" must be less than or equal to {MAX_FILE_BYTES} bytes"),
            );
            return None;
        }
        Some(bytes)
    });
    // The path's user is checked with the body, all problems reported at once.
    let user = user_param(&access, &user);
    if let Err(err) = &user {
        input.fail("user", err.message.clone());
    }
    input.finish()?;
    let user = user?;
    access.require(user, Resource::Storage, Action::Create)?;
    let file = state
        .store
        .store_file(
            user,
            NewFile {
                filename,
                content_type,
                cid,
                content: content.unwrap_or_default(),
            },
        )
        .await?;
    success(json!({ "id": file.id.to_string() }))
}

pub async fn list(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    query: QueryInput,
) -> JsonResult {
    let user = user_param(&access, &user)?;
    let mut input = Input::new(query.0);
    let needle = input
        .string_max("query", 255)
        .map(|text| text.trim().to_string())
        .filter(|text| !text.is_empty());
    let paging = PageRequest::read(&mut input);
    input.finish()?;
    access.require(user, Resource::Storage, Action::Read)?;
    let mut rows: Vec<(String, StoredFile)> = state
        .store
        .list_files(user)
        .await?
        .into_iter()
        .filter(|file| {
            needle
                .as_ref()
                .is_none_or(|n| file.filename.contains(n.as_str()))
        })
        .map(|file| (format!("{}\0{}", file.filename, file.id), file))
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let page = paging.apply(rows, |(key, _)| key)?;
    let results = page
        .rows
        .iter()
        .map(|(_, file)| {
            json!({
                "id": file.id.to_string(),
                "filename": file.filename,
                "contentType": file.content_type,
                "cid": file.cid,
                "size": file.size,
                "created": iso_date(file.created),
                "md5": file.md5,
            })
        })
        .collect();
    success(page.response(needle.as_deref().unwrap_or(""), results))
}

pub async fn download(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, file)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (user, file) = file_path(&access, &user, &file)?;
    access.require(user, Resource::Storage, Action::Read)?;
    let (record, content) = state
        .store
        .read_file(user, file)
        .await?
        .ok_or_else(file_not_found)?;
    Ok((
        [(header::CONTENT_TYPE, record.content_type)],
        Body::from(content),
    )
        .into_response())
}

pub async fn delete(
    state: Shared,
    Extension(access): Extension<Access>,
    Path((user, file)): Path<(String, String)>,
) -> JsonResult {
    let (user, file) = file_path(&access, &user, &file)?;
    access.require(user, Resource::Storage, Action::Delete)?;
    if !state.store.delete_file(user, file).await? {
        return Err(file_not_found());
    }
    success(json!({}))
}

fn file_path(access: &Access, user: &str, file: &str) -> ApiResult<(UserId, FileId)> {
    Ok((user_param(access, user)?, hex_id("file", file)?))
}

fn file_not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "FileNotFound",
        "This file does not exist",
    )
}

fn non_empty(text: Option<String>) -> Option<String> {
    text.filter(|text| !text.is_empty())
}
