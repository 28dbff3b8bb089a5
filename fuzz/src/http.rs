//! The HTTP API: raw requests against the listener — every route with ids right and wrong,
//! query strings, JSON bodies shaped like WildDuck's (known keys, wrong types, deep nesting),
//! lying and huge Content-Lengths, bad UTF-8 — each answered with a status and, for an
//! error, WildDuck's JSON error body; never a 500.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::Value;

use crate::grammar::{number, text, with_mutations, word};
use crate::harness::Target;
use crate::servers::{self, Servers, shown};

const ROUTES: &[&str] = &[
    "/health",
    "/authenticate",
    "/users",
    "/users/resolve/{name}",
    "/users/{user}",
    "/users/{user}/logout",
    "/users/{user}/quota/reset",
    "/quota/reset",
    "/users/{user}/password/reset",
    "/users/{user}/asps",
    "/users/{user}/asps/{id}",
    "/filters",
    "/users/{user}/filters",
    "/users/{user}/filters/{id}",
    "/users/{user}/autoreply",
    "/addresses",
    "/addresses/resolve/{name}",
    "/addresses/forwarded",
    "/addresses/forwarded/{id}",
    "/users/{user}/addresses",
    "/users/{user}/addresses/{id}",
    "/users/{user}/mailboxes",
    "/users/{user}/mailboxes/{id}",
    "/users/{user}/mailboxes/{id}/messages",
    "/users/{user}/mailboxes/{id}/messages/{n}",
    "/users/{user}/mailboxes/{id}/messages/{n}/submit",
    "/users/{user}/mailboxes/{id}/messages/{n}/message.eml",
    "/users/{user}/mailboxes/{id}/messages/{n}/attachments/{name}",
    "/users/{user}/search",
    "/users/{user}/storage",
    "/users/{user}/storage/{id}",
    "/domainaliases",
    "/domainaliases/resolve/{name}",
    "/domainaliases/{id}",
    "/domainaccess/{name}/{name}",
    "/domainaccess/{name}",
    "/dkim",
    "/dkim/resolve/{name}",
    "/dkim/{id}",
    "/certs",
    "/certs/resolve/{name}",
    "/certs/{id}",
    "/nowhere",
];
const KEYS: &[&str] = &[
    "username",
    "password",
    "address",
    "name",
    "quota",
    "mailbox",
    "path",
    "flags",
    "seen",
    "flagged",
    "deleted",
    "targets",
    "query",
    "action",
    "from",
    "to",
    "subject",
    "text",
    "html",
    "raw",
    "limit",
    "page",
    "next",
    "previous",
    "order",
    "tags",
    "metaData",
    "internalData",
    "enabled",
    "start",
    "end",
    "forwards",
    "allowWildcard",
    "scopes",
    "description",
    "ttl",
    "sess",
    "ip",
    "domain",
    "alias",
    "selector",
    "privateKey",
    "cert",
    "envelope",
    "isSent",
    "main",
    "hidden",
    "retention",
    "specialUse",
    "uid",
    "id",
    "date",
    "headers",
    "attachments",
];

fn json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[ -~é€]{0,24}".prop_map(Value::String),
        Just(Value::String("x".repeat(70_000))),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((prop_oneof![4 => prop::sample::select(KEYS).prop_map(str::to_string), 1 => word()], inner), 0..8)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
    .boxed()
}

fn body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        6 => json().prop_map(|v| serde_json::to_vec(&v).expect("JSON")),
        1 => (1usize..2000).prop_map(|depth| {
            let mut b = "[".repeat(depth).into_bytes();
            b.extend("]".repeat(depth).into_bytes());
            b
        }),
        1 => (1usize..2000).prop_map(|depth| "{\"a\":".repeat(depth).into_bytes()),
        1 => text(),
        1 => Just(Vec::new()),
    ]
    .boxed()
}

/// A path segment: a real id of the API's user, another well-formed id, or junk.
fn segment(user: String) -> BoxedStrategy<String> {
    prop_oneof![
        3 => Just(user),
        2 => "[0-9a-f]{24}",
        1 => word(),
        1 => number(),
        1 => Just("%00%ff..%2F".to_string()),
        1 => Just("INBOX".to_string()),
    ]
    .boxed()
}

fn query() -> BoxedStrategy<String> {
    prop::collection::vec(
        (
            prop_oneof![prop::sample::select(KEYS).prop_map(str::to_string), word()],
            prop_oneof![
                word(),
                number(),
                Just("%FF%FE".into()),
                Just("a%2".into()),
                Just(String::new())
            ],
        ),
        0..5,
    )
    .prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
    .boxed()
}

fn request(user: String) -> BoxedStrategy<Vec<u8>> {
    let path = (
        prop::sample::select(ROUTES),
        prop::collection::vec(segment(user), 6),
    )
        .prop_map(|(route, values)| {
            let mut path = route.to_string();
            for value in values {
                let Some(open) = path.find('{') else { break };
                let close = open + path[open..].find('}').expect("closing brace");
                path.replace_range(open..=close, &value);
            }
            path
        });
    let length = prop_oneof![
        6 => Just(None),
        1 => Just(Some("1000000000000".to_string())),
        1 => Just(Some("-1".to_string())),
        1 => number().prop_map(Some),
    ];
    (
        prop::sample::select(&["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"][..]),
        path,
        query(),
        body(),
        length,
        prop::sample::select(
            &[
                "application/json",
                "text/plain",
                "application/json; charset=latin1",
                "",
            ][..],
        ),
    )
        .prop_map(|(method, path, query, body, length, content_type)| {
            let length = length.unwrap_or_else(|| body.len().to_string());
            let mut out = format!(
                "{method} {path}?{query} HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\
                 Content-Type: {content_type}\r\nContent-Length: {length}\r\n\r\n"
            )
            .into_bytes();
            out.extend(body);
            out
        })
        .boxed()
}

/// Silence after which a request is taken as answered and the client half-closes.
const QUIET: std::time::Duration = std::time::Duration::from_millis(200);

pub struct Api {
    pub servers: Arc<Servers>,
}

impl Target for Api {
    fn name(&self) -> &'static str {
        "api-http"
    }

    fn inputs(&self) -> BoxedStrategy<Vec<u8>> {
        with_mutations(request(self.servers.api_user.clone()))
    }

    fn check(&self, input: &[u8]) -> Result<(), String> {
        // A HEAD answer announces a body it does not send.
        let head = input.starts_with(b"HEAD ");
        let answer = servers::converse_then_close(self.servers.api, input, Some(QUIET))?;
        check_http_answer(&answer, head)
    }
}

/// Every response has a status line; none is a 500; an error with a JSON body says `error`.
fn check_http_answer(mut answer: &[u8], head_request: bool) -> Result<(), String> {
    while !answer.is_empty() {
        let head_end = answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| format!("cut-off response head: {:?}", shown(answer)))?;
        let head = std::str::from_utf8(&answer[..head_end]).map_err(|_| "head is not UTF-8")?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status: u16 = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| format!("no status line: {status_line:?}"))?;
        if status == 500 || !(100..600).contains(&status) {
            return Err(format!("status {status}: {:?}", shown(answer)));
        }
        let header = |name: &str| {
            head.split("\r\n").skip(1).find_map(|line| {
                let (k, v) = line.split_once(':')?;
                k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
            })
        };
        let rest = &answer[head_end + 4..];
        let (body, after) = if head_request {
            (Vec::new(), rest)
        } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            dechunk(rest)?
        } else {
            let length: usize = header("content-length")
                .map_or(Ok(0), |v| v.parse().map_err(|_| "bad content-length"))?;
            if rest.len() < length {
                return Err("response body cut off".into());
            }
            (rest[..length].to_vec(), &rest[length..])
        };
        if status >= 400 && !body.is_empty() {
            let error = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| v.get("error").map(Value::is_string));
            if error != Some(true) {
                return Err(format!(
                    "error {status} without a JSON error: {:?}",
                    shown(&body)
                ));
            }
        }
        answer = after;
    }
    Ok(())
}

fn dechunk(mut data: &[u8]) -> Result<(Vec<u8>, &[u8]), String> {
    let mut body = Vec::new();
    loop {
        let end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("cut-off chunk size")?;
        let size_text = std::str::from_utf8(&data[..end]).map_err(|_| "chunk size not UTF-8")?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        data = &data[end + 2..];
        if size == 0 {
            let end = data
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or("cut-off trailer")?;
            return Ok((body, &data[end + 2..]));
        }
        if data.len() < size + 2 {
            return Err("cut-off chunk".into());
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}
