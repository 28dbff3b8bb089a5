//! `wildduck user authlog USER [--limit N]`: the user's auth log, newest first — every
//! login attempt on every protocol and every TOTP check of the last 30 days.

use serde::Serialize;
use serde_json::json;
use wildduck_store::{AuthEvent, AuthLogFilter};

use super::{Ctx, find_user};
use crate::dates;
use crate::error::CliResult;
use crate::output::{Report, table};

#[derive(Serialize)]
struct EventView {
    id: String,
    time: String,
    action: String,
    protocol: Option<String>,
    scope: Option<String>,
    ip: Option<String>,
    result: &'static str,
    reason: Option<String>,
    source: Option<&'static str>,
    asp: Option<String>,
    require_2fa: bool,
}

impl From<&AuthEvent> for EventView {
    fn from(event: &AuthEvent) -> Self {
        Self {
            id: event.id.to_string(),
            time: dates::rfc3339(event.created),
            action: event.action.clone(),
            protocol: event.protocol.clone(),
            scope: event.scope.map(|scope| scope.name().to_string()),
            ip: event.ip.clone(),
            result: event.result.name(),
            reason: event.reason.clone(),
            source: event.source.map(|source| source.name()),
            asp: event.asp.map(|asp| asp.to_string()),
            require_2fa: event.require_2fa,
        }
    }
}

pub async fn run(ctx: &Ctx, user: &str, limit: usize) -> CliResult<Report> {
    let store = ctx.store().await?;
    let user = find_user(&store, user).await?;
    let mut events = store.auth_log(user.id, &AuthLogFilter::default()).await?;
    events.truncate(limit);
    let views: Vec<EventView> = events.iter().map(EventView::from).collect();
    let rows: Vec<Vec<String>> = views
        .iter()
        .map(|view| {
            let dash = |text: &Option<String>| text.clone().unwrap_or_else(|| "-".into());
            let result = match &view.reason {
                Some(reason) => format!("{} ({reason})", view.result),
                None => view.result.to_string(),
            };
            vec![
                view.time.clone(),
                view.action.clone(),
                dash(&view.protocol),
                dash(&view.ip),
                result,
                view.source.unwrap_or("-").to_string(),
                dash(&view.asp),
            ]
        })
        .collect();
    Ok(Report::new(
        json!({ "user": user.username, "events": views }),
        table(
            &[
                "TIME", "ACTION", "PROTOCOL", "IP", "RESULT", "SOURCE", "ASP",
            ],
            &rows,
        ),
    ))
}
