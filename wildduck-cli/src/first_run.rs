//! The first start of `wildduck serve` on an empty store: one account with a welcome message,
//! so a mail client can log in at once without any other command.

use rand::Rng;
use wildduck_store::{Error as StoreError, Flags, NewUser, Store, UserError};

use crate::commands::user::random_password;
use crate::config::InitialAccountSection;
use crate::dates;
use crate::error::CliResult;

/// The account made on first start, with the password to show once.
pub struct CreatedAccount {
    pub username: String,
    pub password: String,
    /// True when the password came from the config file (then it is not printed).
    pub password_from_config: bool,
}

/// Creates the initial account when the store has no users (and the config allows it).
/// Without a configured address it gets `USERNAME@HOSTNAME`, the server's mail domain.
pub async fn ensure_account(
    store: &Store,
    settings: &InitialAccountSection,
    hostname: &str,
) -> CliResult<Option<CreatedAccount>> {
    if !settings.create || !store.list_users().await?.is_empty() {
        return Ok(None);
    }
    let (password, password_from_config) = match &settings.password {
        Some(password) => (password.clone(), true),
        None => (random_password(), false),
    };
    let address = match &settings.address {
        Some(address) => address.clone(),
        None if settings.username.contains('@') => settings.username.clone(),
        None => format!("{}@{hostname}", settings.username),
    };
    let created = store
        .create_user(NewUser {
            username: settings.username.clone(),
            password: password.clone(),
            quota: None,
            address: Some(address.clone()),
        })
        .await;
    let user = match created {
        Ok(user) => user,
        // Another process made it between our look and our insert: nothing to announce.
        Err(StoreError::User(UserError::AlreadyExists)) => return Ok(None),
        Err(err) => return Err(err.into()),
    };
    let inbox = store.get_mailbox(user.id, "INBOX").await?;
    store
        .append(
            inbox.id,
            &welcome_message(&user.username, &address, hostname),
            &Flags::new(),
            None,
        )
        .await?;
    Ok(Some(CreatedAccount {
        username: user.username,
        password,
        password_from_config,
    }))
}

fn welcome_message(username: &str, to: &str, hostname: &str) -> Vec<u8> {
    let unique: u64 = rand::rng().random();
    let now = dates::now();
    format!(
        "From: WildDuck <postmaster@{hostname}>\r\n\
         To: {to}\r\n\
         Subject: Welcome to WildDuck\r\n\
         Date: {date}\r\n\
         Message-ID: <welcome.{unique:016x}@{hostname}>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         Hello {username},\r\n\
         \r\n\
         this account was made when `wildduck serve` first started on an empty store.\r\n\
         Your mail client is talking to it over IMAP (or POP3) right now.\r\n\
         \r\n\
         Next steps, from the command line:\r\n\
         \r\n\
         \x20 wildduck user passwd {username}            choose a new password\r\n\
         \x20 wildduck user add alice                  add another account\r\n\
         \x20 wildduck import --user {username} FILE.mbox  bring old mail in\r\n\
         \r\n\
         -- \r\n\
         WildDuck\r\n",
        date = dates::rfc5322(now),
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_welcome_message_is_a_well_formed_crlf_message() {
        let raw = welcome_message("admin", "admin@mail.example.test", "mail.example.test");
        let text = String::from_utf8(raw.clone()).unwrap();
        assert!(crate::formats::looks_like_message(&raw));
        assert!(text.contains("\r\nSubject: Welcome to WildDuck\r\n"));
        assert!(text.contains("\r\nTo: admin@mail.example.test\r\n"));
        assert!(
            !text.replace("\r\n", "").contains('\n'),
            "only CRLF line ends"
        );
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        assert_eq!(parsed.subject(), Some("Welcome to WildDuck"));
        assert!(parsed.body_text(0).unwrap().contains("Hello admin"));
    }
}
