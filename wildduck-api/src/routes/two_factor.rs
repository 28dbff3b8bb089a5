//! TOTP two-factor authentication as WildDuck's `lib/api/2fa/totp.js`: `POST
//! /users/:user/2fa/totp/setup` (the seed, its `otpauth://` URL, and that URL as a QR code:
//! an SVG in a `data:` URL), `POST …/totp/enable` and `POST …/totp/check` with a six-digit `token`, `DELETE …/totp` and
//! `DELETE /users/:user/2fa`. The rules (window, replay, sealed seeds) are the store's.

use axum::Extension;
use axum::extract::Path;
use axum::http::StatusCode;
use base64::Engine;
use serde_json::json;
use wildduck_store::{TotpRefusal, UserId};

use super::{JsonResult, Shared, success};
use crate::auth::{Access, Action, Resource};
use crate::error::{ApiError, ApiResult};
use crate::input::{Input, JsonBody, user_param};
use crate::routes::authlog::attempt_origin;

const MAX_LABEL_CHARS: usize = 255;

/// The user of the path, if the caller may change their account.
fn account(access: &Access, user: &str) -> ApiResult<UserId> {
    let user = user_param(access, user)?;
    access.require(user, Resource::Users, Action::Update)?;
    Ok(user)
}

/// WildDuck's status and code for each refusal.
fn refused(refusal: TotpRefusal, check: bool) -> ApiError {
    match refusal {
        TotpRefusal::NotConfigured => ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "TOTP needs `[totp] secret` in the server's configuration",
        ),
        TotpRefusal::AlreadyEnabled => ApiError::new(
            StatusCode::BAD_REQUEST,
            "TotpEnabled",
            "Failed to set up 2FA. Check if it is not already enabled",
        ),
        TotpRefusal::NotPending | TotpRefusal::NotEnabled | TotpRefusal::InvalidCode => {
            let status = if check {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::BAD_REQUEST
            };
            ApiError::new(status, "InvalidToken", "Invalid authentication token")
        }
    }
}

/// `text` as a QR code in a `data:` URL, as WildDuck's `qrcode` field (WildDuck draws a PNG;
/// this is an SVG, which every browser shows the same way in an `<img>`).
fn qr_code_data_url(text: &str) -> ApiResult<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(|error| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("the QR code could not be made: {error}"),
        )
    })?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
}

/// The six-digit `token` of a body.
fn token(mut input: Input) -> ApiResult<String> {
    let token = input.required_string("token");
    if token.chars().count() != 6 {
        input.fail("token", "\"token\" length must be 6 characters long".into());
    }
    input.finish()?;
    Ok(token)
}

pub async fn setup(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let user = account(&access, &user)?;
    let mut input = Input::new(body);
    let issuer = input.string_max("issuer", MAX_LABEL_CHARS);
    if !input.has("issuer") {
        input.fail("issuer", "\"issuer\" is required".into());
    }
    let label = input.string_max("label", MAX_LABEL_CHARS);
    input.finish()?;
    let account_name = match label.map(|l| l.trim().to_string()) {
        Some(label) if !label.is_empty() => label,
        _ => state.store.get_user(user).await?.username,
    };
    let issuer = issuer.unwrap_or_default();
    match state
        .store
        .setup_totp(user, issuer.trim(), &account_name)
        .await?
    {
        Ok(setup) => success(json!({
            "seed": setup.seed,
            "qrcode": qr_code_data_url(&setup.otpauth_url)?,
            "otpauthUrl": setup.otpauth_url,
        })),
        Err(refusal) => Err(refused(refusal, false)),
    }
}

pub async fn enable(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let user = account(&access, &user)?;
    let token = token(Input::new(body))?;
    match state.store.enable_totp(user, &token).await? {
        Ok(()) => success(json!({})),
        Err(refusal) => Err(refused(refusal, false)),
    }
}

pub async fn check(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
    JsonBody(body): JsonBody,
) -> JsonResult {
    let user = account(&access, &user)?;
    let mut input = Input::new(body);
    let origin = attempt_origin(&mut input);
    let token = token(input)?;
    match state.store.check_totp_from(user, &token, &origin).await? {
        Ok(()) => success(json!({})),
        Err(refusal) => Err(refused(refusal, true)),
    }
}

/// `DELETE …/2fa/totp` and `DELETE …/2fa` (TOTP is the only factor kept).
pub async fn disable(
    state: Shared,
    Extension(access): Extension<Access>,
    Path(user): Path<String>,
) -> JsonResult {
    let user = account(&access, &user)?;
    state.store.disable_totp(user).await?;
    success(json!({}))
}
