//! TLS certificates: `/certs` list, set, get, resolve by server name, delete, as WildDuck's
//! `lib/api/certs.js`. Root only. Private keys are never answered; ACME is not supported
//! (a certificate and its key must be given).

use axum::Extension;
use axum::extract::Path;
use serde_json::{Value, json};
use wildduck_store::{Certificate, NewCertificate, RecordId};

use super::asps::iso_date;
use super::{JsonResult, Shared, success};
use crate::auth::Access;
use crate::error::ApiError;
use crate::input::{Input, JsonBody, QueryInput, hex_id};
use crate::paging::PageRequest;

pub async fn list(
    state: Shared,
    Extension(access): Extension<Access>,
    query: QueryInput,
) -> JsonResult {
    access.require_root()?;
    let mut input = Input::new(query.0);
    let paging = PageRequest::read(&mut input);
    let query = input
        .string_max("query", 255)
        .map(|text| text.trim().to_string())
        .unwrap_or_default();
    let alt_names = input.boolean("altNames").unwrap_or(false);
    input.finish()?;
    let rows: Vec<Certificate> = state
        .store
        .list_certificates()
        .await?
        .into_iter()
        .filter(|cert| {
            cert.servername.contains(&query)
                || (alt_names && cert.alt_names.iter().any(|name| name.contains(&query)))
        })
        .collect();
    let page = paging.apply(rows, |cert| &cert.servername)?;
    let results = page.rows.iter().map(cert_json).collect();
    success(page.response(&query, results))
}

pub async fn set(
    state: Shared,
    Extension(access): Extension<Access>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    access.require_root()?;
    let mut input = Input::new(body);
    let servername = input.string_max("servername", 255);
    let description = input.string_max("description", 1024);
    let private_key = input.string("privateKey");
    let cert = input.string("cert");
    let ca = match input.value("ca").cloned() {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_string))
            .collect(),
        Some(_) => {
            input.fail("ca", "\"ca\" must be an array".into());
            Vec::new()
        }
    };
    let acme = input.boolean("acme").unwrap_or(false);
    input.finish()?;
    if acme {
        return Err(ApiError::unsupported(
            "\"acme\" (certificates from ACME)",
            21,
        ));
    }
    let (Some(private_key), Some(cert)) = (private_key, cert) else {
        return Err(crate::input::validation_error(
            "cert",
            "\"privateKey\" and \"cert\" are required (ACME is not supported)".into(),
        ));
    };
    let (cert, _) = state
        .store
        .set_certificate(NewCertificate {
            servername,
            description,
            private_key,
            cert,
            ca,
        })
        .await?;
    success(cert_json(&cert))
}

pub async fn get(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(cert): Path<String>,
) -> JsonResult {
    access.require_root()?;
    let id: RecordId = hex_id("cert", &cert)?;
    success(cert_json(&state.store.get_certificate(id).await?))
}

pub async fn resolve(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(servername): Path<String>,
) -> JsonResult {
    access.require_root()?;
    let cert = state.store.resolve_certificate(&servername).await?;
    success(json!({ "id": cert.id.to_string() }))
}

pub async fn delete(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(cert): Path<String>,
) -> JsonResult {
    access.require_root()?;
    let id: RecordId = hex_id("cert", &cert)?;
    state.store.delete_certificate(id).await?;
    success(json!({}))
}

fn cert_json(cert: &Certificate) -> Value {
    json!({
        "id": cert.id.to_string(),
        "servername": cert.servername,
        "description": cert.description,
        "fingerprint": cert.fingerprint,
        "expires": iso_date(cert.expires),
        "altNames": cert.alt_names,
        "acme": false,
        "created": iso_date(cert.created),
    })
}
