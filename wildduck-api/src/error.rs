//! WildDuck's error bodies: `{"error": "…", "code": "…"}` (plus `details` for validation),
//! with WildDuck's HTTP statuses and codes.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use wildduck_store::{
    AddressError, AspError, AuthError, Error, MailboxError, MessageError, RegistryError,
    RegistryKind, RuleError, UserError,
};

/// One failed request, as WildDuck words it.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// WildDuck's machine-readable code; a few of its errors carry none.
    pub code: Option<&'static str>,
    /// Per-field messages of an `InputValidationError`.
    pub details: Option<Map<String, Value>>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            code: Some(code),
            details: None,
        }
    }

    /// A 400 without a code, as WildDuck answers an update that changes nothing.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            code: None,
            details: None,
        }
    }

    pub fn user_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "UserNotFound",
            "This user does not exist",
        )
    }

    pub fn mailbox_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NoSuchMailbox",
            "This mailbox does not exist",
        )
    }

    pub fn address_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "AddressNotFound",
            "Invalid or unknown address",
        )
    }

    pub fn missing_privileges() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "MissingPrivileges",
            "Not enough privileges",
        )
    }

    pub fn invalid_token() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "InvalidToken",
            "Invalid accessToken value",
        )
    }

    /// A WildDuck field or route we do not serve yet: 501, naming the issue that brings it,
    /// rather than accepting and silently dropping it.
    pub fn unsupported(what: &str, issue: u32) -> Self {
        Self::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("{what} is not supported yet (wildduck-rs issue {issue})"),
        )
    }

    /// WildDuck's mailbox handlers report store failures as "<Action> failed with code X".
    pub fn mailbox_action(action: &str, err: Error) -> Self {
        let mut api = ApiError::from(err);
        if let Some(code) = api.code
            && api.status != StatusCode::INTERNAL_SERVER_ERROR
        {
            api.message = format!("{action} failed with code {code}");
        }
        api
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        use StatusCode as S;
        let text = err.to_string();
        match err {
            Error::User(UserError::NotFound) => Self::user_not_found(),
            Error::User(UserError::AlreadyExists) => Self::new(
                S::BAD_REQUEST,
                "UserExistsError",
                "This username already exists",
            ),
            Error::User(
                UserError::InvalidUsername(_)
                | UserError::InvalidPassword(_)
                | UserError::InvalidScope(_)
                | UserError::InvalidKey(_),
            ) => Self::new(S::BAD_REQUEST, "InputValidationError", text),
            Error::Auth(AuthError::Disabled) => {
                Self::new(S::FORBIDDEN, "UserDisabled", "User account is disabled")
            }
            Error::Auth(AuthError::Suspended) => {
                Self::new(S::FORBIDDEN, "UserSuspended", "User account is suspended")
            }
            // A disabled scope and an ASP used outside its scopes read as a wrong password.
            Error::Auth(
                AuthError::InvalidCredentials | AuthError::ScopeDisabled | AuthError::WrongScope,
            ) => Self::new(S::FORBIDDEN, "AuthFailed", "Authentication failed"),
            Error::Asp(AspError::NotFound) => {
                Self::new(S::NOT_FOUND, "AspNotFound", "Invalid or unknown ASP key")
            }
            Error::Asp(AspError::TooMany { .. }) => Self::new(
                S::FORBIDDEN,
                "TooMany",
                "Maximum application password limit reached",
            ),
            Error::Asp(AspError::Invalid(_)) => {
                Self::new(S::BAD_REQUEST, "InputValidationError", text)
            }
            Error::Rule(RuleError::FilterNotFound) => {
                Self::new(S::NOT_FOUND, "FilterNotFound", "This filter does not exist")
            }
            Error::Rule(RuleError::TooManyFilters { .. }) => {
                Self::new(S::FORBIDDEN, "TooMany", "Maximum filters limit reached")
            }
            Error::Rule(RuleError::Invalid(_)) => {
                Self::new(S::BAD_REQUEST, "InputValidationError", text)
            }
            Error::Registry(RegistryError::NotFound(kind)) => {
                let (code, message) = match kind {
                    RegistryKind::DomainAlias => ("AliasNotFound", "Invalid or unknown alias"),
                    RegistryKind::DomainAccess => ("DomainNotFound", "Domain was not found"),
                    RegistryKind::Dkim => ("DkimNotFound", "Invalid or unknown DKIM key"),
                    RegistryKind::Cert => ("CertNotFound", "Invalid or unknown cert"),
                    RegistryKind::DeletedUser => {
                        ("AccountNotFound", "Deleted account was not found")
                    }
                    RegistryKind::Setting => ("SettingNotFound", "Key was not found"),
                    RegistryKind::Webhook => {
                        ("WebhookNotFound", "Invalid or unknown webhook identifier")
                    }
                };
                Self::new(S::NOT_FOUND, code, message)
            }
            Error::Registry(RegistryError::AlreadyExists(RegistryKind::DomainAlias)) => Self::new(
                S::BAD_REQUEST,
                "AliasExists",
                "This domain alias already exists",
            ),
            Error::Registry(RegistryError::AlreadyExists(_)) => {
                Self::new(S::BAD_REQUEST, "AlreadyExists", text)
            }
            Error::Registry(RegistryError::Invalid(..)) => {
                Self::new(S::BAD_REQUEST, "InputValidationError", text)
            }
            Error::Address(AddressError::NotFound) => Self::address_not_found(),
            Error::Address(AddressError::AlreadyExists) => Self::new(
                S::BAD_REQUEST,
                "AddressExistsError",
                "This email address already exists",
            ),
            Error::Address(AddressError::Invalid(_)) => {
                Self::new(S::BAD_REQUEST, "InputValidationError", text)
            }
            Error::Address(AddressError::NotOwned(_)) => {
                Self::new(S::FORBIDDEN, "InputValidationError", text)
            }
            Error::Mailbox(MailboxError::NotFound) => Self::mailbox_not_found(),
            Error::Mailbox(MailboxError::AlreadyExists) => Self::new(
                S::BAD_REQUEST,
                "ALREADYEXISTS",
                "Mailbox creation failed with code MailboxAlreadyExists",
            ),
            Error::Mailbox(MailboxError::InvalidName(_)) => {
                Self::new(S::BAD_REQUEST, "InputValidationError", text)
            }
            Error::Mailbox(MailboxError::Protected(_)) => {
                Self::new(S::BAD_REQUEST, "DisallowedMailboxMethod", text)
            }
            Error::Message(MessageError::NotFound) => Self::new(
                S::NOT_FOUND,
                "MessageNotFound",
                "This message does not exist",
            ),
            Error::Message(MessageError::OverQuota { .. }) => {
                Self::new(S::FORBIDDEN, "OVERQUOTA", text)
            }
            Error::Message(MessageError::SendingLimit { .. }) => Self::new(
                S::FORBIDDEN,
                "RateLimitedError",
                "You reached a daily sending limit for your account",
            ),
            Error::Message(MessageError::TooManyRecipients { .. }) => Self::new(
                S::FORBIDDEN,
                "TooMany",
                "Your email has too many recipients",
            ),
            Error::Message(MessageError::NotDraft) => Self::new(
                S::BAD_REQUEST,
                "MessageNotDraft",
                "This message is not a draft",
            ),
            Error::Message(_) => Self::new(S::BAD_REQUEST, "InputValidationError", text),
            Error::Storage(_) if err.is_temporary() => {
                tracing::warn!("api: {text}");
                Self::new(S::SERVICE_UNAVAILABLE, "InternalDatabaseError", text)
            }
            Error::Storage(_) => {
                tracing::error!("api: {text}");
                Self::new(S::INTERNAL_SERVER_ERROR, "InternalDatabaseError", text)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.message });
        if let Some(code) = self.code {
            body["code"] = code.into();
        }
        if let Some(details) = self.details {
            body["details"] = Value::Object(details);
        }
        (self.status, axum::Json(body)).into_response()
    }
}
