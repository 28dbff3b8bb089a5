//! `GET /openapi.json`: an OpenAPI 3.0 document of the operations of WildDuck's API
//! (`docs/api/openapidocs.json` of wildduck 1.46.1, 117 operations) that this server
//! serves, under WildDuck's paths and operation ids, so WildDuck's clients and tools can be
//! pointed at it. `tests/openapi.rs` keeps the table true: every operation listed here is
//! answered by a route, and every WildDuck operation left out is not.

use axum::Extension;
use serde_json::{Map, Value, json};

use super::{JsonResult, Shared};
use crate::auth::Access;

/// One WildDuck operation this server serves.
struct Operation {
    method: Method,
    /// The path as WildDuck's document writes it (`{name}` for a path parameter).
    path: &'static str,
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
}

#[derive(Clone, Copy)]
enum Method {
    Get,
    Post,
    Put,
    Delete,
}

use Method::{Delete, Get, Post, Put};

const fn op(
    method: Method,
    path: &'static str,
    id: &'static str,
    tag: &'static str,
    summary: &'static str,
) -> Operation {
    Operation {
        method,
        path,
        id,
        tag,
        summary,
    }
}

/// In WildDuck's document order.
const SERVED: &[Operation] = &[
    op(Get, "/users", "getUsers", "Users", "List registered Users"),
    op(Post, "/users", "createUser", "Users", "Create new user"),
    op(
        Get,
        "/users/resolve/{username}",
        "resolveUser",
        "Users",
        "Resolve ID for a username",
    ),
    op(
        Get,
        "/users/{user}",
        "getUser",
        "Users",
        "Request User information",
    ),
    op(
        Put,
        "/users/{user}",
        "updateUser",
        "Users",
        "Update User information",
    ),
    op(
        Delete,
        "/users/{user}",
        "deleteUser",
        "Users",
        "Delete a User",
    ),
    op(
        Put,
        "/users/{user}/logout",
        "logoutUser",
        "Users",
        "Log out User",
    ),
    op(
        Post,
        "/users/{user}/quota/reset",
        "recalculateQuota",
        "Users",
        "Recalculate User quota",
    ),
    op(
        Post,
        "/quota/reset",
        "recalculateQuotaAllUsers",
        "Users",
        "Recalculate Quota for all Users",
    ),
    op(
        Post,
        "/users/{user}/password/reset",
        "resetUserPassword",
        "Users",
        "Reset password for a User",
    ),
    op(
        Get,
        "/users/{user}/restore",
        "restoreUserInfo",
        "Users",
        "Return recovery info for a deleted user",
    ),
    op(
        Post,
        "/users/{user}/restore",
        "cancelUserDelete",
        "Users",
        "Cancel user deletion task",
    ),
    op(
        Get,
        "/addresses",
        "getAddresses",
        "Addresses",
        "List registered Addresses",
    ),
    op(
        Post,
        "/users/{user}/addresses",
        "createUserAddress",
        "Addresses",
        "Create new Address",
    ),
    op(
        Get,
        "/users/{user}/addresses",
        "getUserAddresses",
        "Addresses",
        "List registered Addresses for a User",
    ),
    op(
        Get,
        "/users/{user}/addresses/{address}",
        "getUserAddress",
        "Addresses",
        "Request Addresses information",
    ),
    op(
        Delete,
        "/users/{user}/addresses/{address}",
        "deleteUserAddress",
        "Addresses",
        "Delete an Address",
    ),
    op(
        Put,
        "/users/{user}/addresses/{id}",
        "updateUserAddress",
        "Addresses",
        "Update Address information",
    ),
    op(
        Get,
        "/users/{user}/addressregister",
        "getUserAddressregister",
        "Addresses",
        "List addresses from communication register",
    ),
    op(
        Put,
        "/users/{user}/addressregister/{id}",
        "updateAddressAddressregister",
        "Addresses",
        "Update an address in the addressregister",
    ),
    op(
        Post,
        "/addresses/forwarded",
        "createForwardedAddress",
        "Addresses",
        "Create new forwarded Address",
    ),
    op(
        Put,
        "/addresses/forwarded/{id}",
        "updateForwardedAddress",
        "Addresses",
        "Update forwarded Address information",
    ),
    op(
        Delete,
        "/addresses/forwarded/{address}",
        "deleteForwardedAddress",
        "Addresses",
        "Delete a forwarded Address",
    ),
    op(
        Get,
        "/addresses/forwarded/{address}",
        "getForwardedAddress",
        "Addresses",
        "Request forwarded Addresses information",
    ),
    op(
        Get,
        "/addresses/resolve/{address}",
        "resolveAddress",
        "Addresses",
        "Get Address info",
    ),
    op(
        Get,
        "/users/{user}/mailboxes",
        "getMailboxes",
        "Mailboxes",
        "List Mailboxes for a User",
    ),
    op(
        Post,
        "/users/{user}/mailboxes",
        "createMailbox",
        "Mailboxes",
        "Create new Mailbox",
    ),
    op(
        Get,
        "/users/{user}/mailboxes/{mailbox}",
        "getMailbox",
        "Mailboxes",
        "Request Mailbox information",
    ),
    op(
        Put,
        "/users/{user}/mailboxes/{mailbox}",
        "updateMailbox",
        "Mailboxes",
        "Update Mailbox information",
    ),
    op(
        Delete,
        "/users/{user}/mailboxes/{mailbox}",
        "deleteMailbox",
        "Mailboxes",
        "Delete a Mailbox",
    ),
    op(
        Get,
        "/users/{user}/mailboxes/{mailbox}/messages",
        "getMessages",
        "Messages",
        "List messages in a Mailbox",
    ),
    op(
        Put,
        "/users/{user}/mailboxes/{mailbox}/messages",
        "updateMessage",
        "Messages",
        "Update Message information",
    ),
    op(
        Delete,
        "/users/{user}/mailboxes/{mailbox}/messages",
        "deleteMessagesInMailbox",
        "Messages",
        "Delete all Messages from a Mailbox",
    ),
    op(
        Post,
        "/users/{user}/mailboxes/{mailbox}/messages",
        "uploadMessage",
        "Messages",
        "Upload Message",
    ),
    op(
        Get,
        "/users/{user}/search",
        "searchMessages",
        "Messages",
        "Search for messages",
    ),
    op(
        Post,
        "/users/{user}/search",
        "searchApplyMessages",
        "Messages",
        "Search and update messages",
    ),
    op(
        Post,
        "/users/{user}/mailboxes/{mailbox}/messages/{message}/forward",
        "forwardStoredMessage",
        "Messages",
        "Forward stored Message",
    ),
    op(
        Put,
        "/addresses/renameDomain",
        "renameDomain",
        "Addresses",
        "Rename domain in addresses",
    ),
    op(
        Post,
        "/users/{user}/submit",
        "submitMessage",
        "Submission",
        "Submit a Message for Delivery",
    ),
    op(
        Get,
        "/users/{user}/mailboxes/{mailbox}/messages/{message}",
        "getMessage",
        "Messages",
        "Request Message information",
    ),
    op(
        Put,
        "/users/{user}/mailboxes/{mailbox}/messages/{message}",
        "updateMessagePathParams",
        "Messages",
        "Update message information with path param",
    ),
    op(
        Delete,
        "/users/{user}/mailboxes/{mailbox}/messages/{message}",
        "deleteMessage",
        "Messages",
        "Delete a Message",
    ),
    op(
        Get,
        "/users/{user}/mailboxes/{mailbox}/messages/{message}/message.eml",
        "getMessageSource",
        "Messages",
        "Get Message source",
    ),
    op(
        Get,
        "/users/{user}/mailboxes/{mailbox}/messages/{message}/attachments/{attachment}",
        "getMessageAttachment",
        "Messages",
        "Download Attachment",
    ),
    op(
        Post,
        "/users/{user}/mailboxes/{mailbox}/messages/{message}/submit",
        "submitStoredMessage",
        "Messages",
        "Submit Draft for delivery",
    ),
    op(
        Delete,
        "/users/{user}/outbound/{queueId}",
        "deleteOutboundMessage",
        "Messages",
        "Delete an Outbound Message",
    ),
    op(
        Post,
        "/users/{user}/storage",
        "uploadFile",
        "Storage",
        "Upload file",
    ),
    op(
        Get,
        "/users/{user}/storage",
        "getFiles",
        "Storage",
        "List stored files",
    ),
    op(
        Delete,
        "/users/{user}/storage/{file}",
        "deleteFile",
        "Storage",
        "Delete a File",
    ),
    op(
        Get,
        "/users/{user}/storage/{file}",
        "getFile",
        "Storage",
        "Download File",
    ),
    op(
        Get,
        "/filters",
        "getAllFilters",
        "Filters",
        "List all Filters",
    ),
    op(
        Get,
        "/users/{user}/filters",
        "getFilters",
        "Filters",
        "List Filters for a User",
    ),
    op(
        Post,
        "/users/{user}/filters",
        "createFilter",
        "Filters",
        "Create a new Filter",
    ),
    op(
        Get,
        "/users/{user}/filters/{filter}",
        "getFilter",
        "Filters",
        "Request Filter information",
    ),
    op(
        Delete,
        "/users/{user}/filters/{filter}",
        "deleteFilter",
        "Filters",
        "Delete a Filter",
    ),
    op(
        Put,
        "/users/{user}/filters/{filter}",
        "updateFilter",
        "Filters",
        "Update Filter information",
    ),
    op(
        Post,
        "/domainaccess/{tag}/allow",
        "createAllowedDomain",
        "DomainAccess",
        "Add domain to allowlist",
    ),
    op(
        Get,
        "/domainaccess/{tag}/allow",
        "getAllowedDomains",
        "DomainAccess",
        "List allowlisted domains",
    ),
    op(
        Post,
        "/domainaccess/{tag}/block",
        "createBlockedDomain",
        "DomainAccess",
        "Add domain to blocklist",
    ),
    op(
        Get,
        "/domainaccess/{tag}/block",
        "getBlockedDomains",
        "DomainAccess",
        "List blocklisted domains",
    ),
    op(
        Delete,
        "/domainaccess/{domain}",
        "deleteDomainListing",
        "DomainAccess",
        "Delete a Domain from listing",
    ),
    op(
        Get,
        "/users/{user}/asps",
        "getASPs",
        "ApplicationPasswords",
        "List Application Passwords",
    ),
    op(
        Post,
        "/users/{user}/asps",
        "createASP",
        "ApplicationPasswords",
        "Create new Application Password",
    ),
    op(
        Get,
        "/users/{user}/asps/{asp}",
        "getASP",
        "ApplicationPasswords",
        "Request ASP information",
    ),
    op(
        Delete,
        "/users/{user}/asps/{asp}",
        "deleteASP",
        "ApplicationPasswords",
        "Delete an Application Password",
    ),
    op(
        Post,
        "/users/{user}/2fa/totp/setup",
        "generateTOTPSeed",
        "TwoFactorAuth",
        "Generate TOTP seed",
    ),
    op(
        Post,
        "/users/{user}/2fa/totp/enable",
        "enableTOTPSeed",
        "TwoFactorAuth",
        "Enable TOTP seed",
    ),
    op(
        Delete,
        "/users/{user}/2fa/totp",
        "disableTOTPAuth",
        "TwoFactorAuth",
        "Disable TOTP auth",
    ),
    op(
        Post,
        "/users/{user}/2fa/totp/check",
        "validateTOTPToken",
        "TwoFactorAuth",
        "Validate TOTP Token",
    ),
    op(
        Delete,
        "/users/{user}/2fa",
        "disable2FA",
        "TwoFactorAuth",
        "Disable 2FA",
    ),
    op(
        Get,
        "/users/{user}/updates",
        "getUpdates",
        "Users",
        "Open change stream",
    ),
    op(
        Post,
        "/preauth",
        "preauth",
        "Authentication",
        "Pre-auth check",
    ),
    op(
        Post,
        "/authenticate",
        "authenticate",
        "Authentication",
        "Authenticate a User",
    ),
    op(
        Delete,
        "/authenticate",
        "invalidateAccessToken",
        "Authentication",
        "Invalidate authentication token",
    ),
    op(
        Get,
        "/users/{user}/authlog",
        "getAuthlog",
        "Authentication",
        "List authentication Events",
    ),
    op(
        Get,
        "/users/{user}/authlog/{event}",
        "getAuthlogEvent",
        "Authentication",
        "Request Event information",
    ),
    op(
        Put,
        "/users/{user}/autoreply",
        "updateAutoreply",
        "Autoreplies",
        "Update Autoreply information",
    ),
    op(
        Get,
        "/users/{user}/autoreply",
        "getAutoreply",
        "Autoreplies",
        "Request Autoreply information",
    ),
    op(
        Delete,
        "/users/{user}/autoreply",
        "deleteAutoreply",
        "Autoreplies",
        "Delete Autoreply information",
    ),
    op(
        Get,
        "/webhooks",
        "getWebhooks",
        "Webhooks",
        "List registered Webhooks",
    ),
    op(
        Post,
        "/webhooks",
        "createWebhook",
        "Webhooks",
        "Create new Webhook",
    ),
    op(
        Delete,
        "/webhooks/{webhook}",
        "deleteWebhook",
        "Webhooks",
        "Delete a webhook",
    ),
    op(
        Get,
        "/domainaliases",
        "getDomainAliases",
        "DomainAliases",
        "List registered Domain Aliases",
    ),
    op(
        Post,
        "/domainaliases",
        "createDomainAlias",
        "DomainAliases",
        "Create new Domain Alias",
    ),
    op(
        Get,
        "/domainaliases/resolve/{alias}",
        "resolveDomainAlias",
        "DomainAliases",
        "Resolve ID for a domain alias",
    ),
    op(
        Get,
        "/domainaliases/{alias}",
        "getDomainAlias",
        "DomainAliases",
        "Request Alias information",
    ),
    op(
        Delete,
        "/domainaliases/{alias}",
        "deleteDomainAlias",
        "DomainAliases",
        "Delete an Alias",
    ),
    op(
        Get,
        "/dkim",
        "getDkimKeys",
        "DKIM",
        "List registered DKIM keys",
    ),
    op(
        Post,
        "/dkim",
        "updateDkimKey",
        "DKIM",
        "Create or update DKIM key for domain",
    ),
    op(
        Get,
        "/dkim/resolve/{domain}",
        "resolveDkim",
        "DKIM",
        "Resolve ID for a DKIM domain",
    ),
    op(
        Get,
        "/dkim/{dkim}",
        "getDkimKey",
        "DKIM",
        "Request DKIM information",
    ),
    op(
        Delete,
        "/dkim/{dkim}",
        "deleteDkimKey",
        "DKIM",
        "Delete a DKIM key",
    ),
    op(
        Get,
        "/certs",
        "getTLSCertificates",
        "Certs",
        "List registered TLS certificates",
    ),
    op(
        Post,
        "/certs",
        "updateTLSCertificate",
        "Certs",
        "Create or update TLS certificate for server name",
    ),
    op(
        Get,
        "/certs/resolve/{servername}",
        "resolveTLSCertificate",
        "Certs",
        "Resolve ID for a server name",
    ),
    op(
        Get,
        "/certs/{cert}",
        "getTLSCertificate",
        "Certs",
        "Request TLS certificate information",
    ),
    op(
        Delete,
        "/certs/{cert}",
        "deleteTLSCert",
        "Certs",
        "Delete a TLS certificate",
    ),
    op(
        Get,
        "/settings",
        "getSettings",
        "Settings",
        "List registered Settings",
    ),
    op(
        Post,
        "/settings/{key}",
        "createSetting",
        "Settings",
        "Create or Update Setting",
    ),
    op(
        Get,
        "/settings/{key}",
        "getSetting",
        "Settings",
        "Get Setting value",
    ),
    op(
        Get,
        "/health",
        "getHealth",
        "Health",
        "Check the health of the API",
    ),
];

impl Method {
    fn name(self) -> &'static str {
        match self {
            Get => "get",
            Post => "post",
            Put => "put",
            Delete => "delete",
        }
    }
}

pub async fn document(_state: Shared, Extension(_access): Extension<Access>) -> JsonResult {
    Ok(axum::Json(build()))
}

/// The document: each served operation with its path parameters; the shapes of bodies and
/// answers are WildDuck's (see its document).
fn build() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    let mut tags: Vec<&str> = Vec::new();
    for operation in SERVED {
        let parameters: Vec<Value> = path_parameters(operation.path)
            .map(|name| {
                json!({
                    "name": name,
                    "in": "path",
                    "required": true,
                    "schema": { "type": "string" },
                })
            })
            .collect();
        let entry = paths
            .entry(operation.path)
            .or_insert_with(|| Value::Object(Map::new()));
        entry[operation.method.name()] = json!({
            "operationId": operation.id,
            "summary": operation.summary,
            "tags": [operation.tag],
            "parameters": parameters,
            "responses": { "200": { "description": "Success" } },
        });
        if !tags.contains(&operation.tag) {
            tags.push(operation.tag);
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {
            "title": "WildDuck API",
            "description": "The operations of WildDuck's API that wildduck-rs serves",
            "version": env!("CARGO_PKG_VERSION"),
        },
        "tags": tags.iter().map(|name| json!({ "name": name })).collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "securitySchemes": {
                "AccessTokenAuth": { "type": "apiKey", "in": "header", "name": "X-Access-Token" },
            },
        },
        "security": [{ "AccessTokenAuth": [] }],
    })
}

/// The `{name}` parameters of a path template, in order.
fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_unique_and_parameters_read_from_paths() {
        let mut seen = std::collections::HashSet::new();
        for operation in SERVED {
            assert!(
                seen.insert((operation.method.name(), operation.path)),
                "{}",
                operation.id
            );
        }
        let document = build();
        let message =
            &document["paths"]["/users/{user}/mailboxes/{mailbox}/messages/{message}"]["get"];
        let names: Vec<&str> = message["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["user", "mailbox", "message"]);
        let count: usize = document["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|methods| methods.as_object().unwrap().len())
            .sum();
        assert_eq!(count, SERVED.len());
    }
}
