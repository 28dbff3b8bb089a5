//! `wildduck user 2fa setup|enable|disable USER`: TOTP as the API's `/users/:user/2fa`.

use clap::Subcommand;
use serde_json::json;
use wildduck_store::TotpRefusal;

use super::{Ctx, find_user};
use crate::error::{CliError, CliResult, ErrorKind};
use crate::output::Report;

/// The name authenticator apps show above the account.
const DEFAULT_ISSUER: &str = "WildDuck";

#[derive(Subcommand)]
pub enum TwoFactorCommand {
    /// Make a new TOTP seed (shown once) for the user's authenticator app.
    Setup {
        user: String,
        /// The name the app shows for the service.
        #[arg(long, default_value = DEFAULT_ISSUER)]
        issuer: String,
    },
    /// Turn TOTP on with the first code the app shows for the new seed.
    Enable { user: String, code: String },
    /// Turn TOTP off (enabled or pending).
    Disable { user: String },
}

fn refused(refusal: TotpRefusal) -> CliError {
    match refusal {
        TotpRefusal::NotConfigured => CliError::new(
            ErrorKind::Config,
            "TOTP needs `[totp] secret` in the configuration",
        ),
        TotpRefusal::AlreadyEnabled => CliError::new(
            ErrorKind::NoPerm,
            "TOTP is enabled already; disable it first",
        ),
        TotpRefusal::NotPending => CliError::new(
            ErrorKind::NoPerm,
            "no TOTP setup to enable; run setup first",
        ),
        TotpRefusal::NotEnabled | TotpRefusal::InvalidCode => {
            CliError::new(ErrorKind::Data, "the code is not valid")
        }
    }
}

pub async fn run(ctx: &Ctx, command: TwoFactorCommand) -> CliResult<Report> {
    let store = ctx.store().await?;
    match command {
        TwoFactorCommand::Setup { user, issuer } => {
            let user = find_user(&store, &user).await?;
            let setup = store
                .setup_totp(user.id, &issuer, &user.username)
                .await?
                .map_err(refused)?;
            Ok(Report::new(
                json!({ "user": user.username, "seed": setup.seed, "otpauth_url": setup.otpauth_url }),
                format!(
                    "TOTP seed for {}: {}\n{}\nconfirm with: wildduck user 2fa enable {} CODE",
                    user.username, setup.seed, setup.otpauth_url, user.username
                ),
            ))
        }
        TwoFactorCommand::Enable { user, code } => {
            let user = find_user(&store, &user).await?;
            store.enable_totp(user.id, &code).await?.map_err(refused)?;
            Ok(Report::new(
                json!({ "user": user.username, "totp": true }),
                format!("TOTP enabled for {}", user.username),
            ))
        }
        TwoFactorCommand::Disable { user } => {
            let user = find_user(&store, &user).await?;
            let had = store.disable_totp(user.id).await?;
            Ok(Report::new(
                json!({ "user": user.username, "totp": false, "was_set_up": had }),
                format!("TOTP disabled for {}", user.username),
            ))
        }
    }
}
