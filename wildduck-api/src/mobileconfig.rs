//! Apple configuration profiles (`.mobileconfig`) for a new application-specific password,
//! as WildDuck's `POST /users/:user/asps` with `generateMobileconfig` makes them: one
//! `com.apple.mail.managed` payload with the account, its IMAP (or POP3) and SMTP servers and
//! the ASP as the password of both. WildDuck signs the profile (PKCS#7) with a configured
//! certificate; we send it unsigned (a device installs it and shows it as "not verified").

use rand::RngCore;
use serde::{Deserialize, Serialize};

/// The `[api.mobileconfig]` settings: what the profile calls itself and the servers it sets
/// up. `{email}` and `{name}` in the texts become the account's address and name.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct MobileConfig {
    pub identifier: String,
    pub display_name: String,
    pub display_description: String,
    pub organization: String,
    pub account_description: String,
    pub imap: ServerSetup,
    pub pop3: ServerSetup,
    pub smtp: ServerSetup,
}

/// How a mail client reaches one of our listeners.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ServerSetup {
    pub hostname: String,
    pub port: u16,
    /// Implicit TLS.
    pub secure: bool,
}

impl Default for MobileConfig {
    fn default() -> Self {
        let server = |port| ServerSetup {
            hostname: "localhost".into(),
            port,
            secure: true,
        };
        Self {
            identifier: "com.email.wildduck".into(),
            display_name: "WildDuck Mail".into(),
            display_description: "Install this profile to setup {email}".into(),
            organization: "WildDuck Mail Services".into(),
            account_description: "{email}".into(),
            imap: server(993),
            pop3: server(995),
            smtp: server(465),
        }
    }
}

/// The account a profile sets up.
pub struct Account<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub address: &'a str,
    /// Set up POP3 instead of IMAP (the ASP holds `pop3` and not `imap`).
    pub pop3: bool,
    pub description: Option<&'a str>,
    pub password: &'a str,
}

impl MobileConfig {
    /// The profile as plist XML.
    pub fn profile(&self, account: &Account) -> String {
        let text = |template: &str| {
            template
                .replace("{email}", account.address)
                .replace("{name}", account.name)
                .trim()
                .to_string()
        };
        let identifier = format!("{}.{}", text(&self.identifier), account.id);
        let organization = text(&self.organization);
        let (kind, incoming) = if account.pop3 {
            ("EmailTypePOP", &self.pop3)
        } else {
            ("EmailTypeIMAP", &self.imap)
        };
        let mail = Plist::Dict(vec![
            ("PayloadType", "com.apple.mail.managed".into()),
            ("PayloadVersion", Plist::Integer(1)),
            ("PayloadIdentifier", identifier.as_str().into()),
            ("PayloadUUID", uuid().into()),
            ("PayloadDisplayName", "Email Account".into()),
            ("PayloadDescription", "Configures email account".into()),
            ("PayloadOrganization", organization.as_str().into()),
            (
                "EmailAccountDescription",
                text(&self.account_description).into(),
            ),
            ("EmailAccountName", account.name.into()),
            ("EmailAccountType", kind.into()),
            ("EmailAddress", account.address.into()),
            (
                "IncomingMailServerAuthentication",
                "EmailAuthPassword".into(),
            ),
            (
                "IncomingMailServerHostName",
                incoming.hostname.as_str().into(),
            ),
            (
                "IncomingMailServerPortNumber",
                Plist::Integer(incoming.port.into()),
            ),
            ("IncomingMailServerUseSSL", Plist::Bool(incoming.secure)),
            ("IncomingMailServerUsername", account.address.into()),
            ("IncomingPassword", account.password.into()),
            ("OutgoingPasswordSameAsIncomingPassword", Plist::Bool(true)),
            (
                "OutgoingMailServerAuthentication",
                "EmailAuthPassword".into(),
            ),
            (
                "OutgoingMailServerHostName",
                self.smtp.hostname.as_str().into(),
            ),
            (
                "OutgoingMailServerPortNumber",
                Plist::Integer(self.smtp.port.into()),
            ),
            ("OutgoingMailServerUseSSL", Plist::Bool(self.smtp.secure)),
            ("OutgoingMailServerUsername", account.address.into()),
            ("PreventMove", Plist::Bool(false)),
            ("PreventAppSheet", Plist::Bool(false)),
            ("SMIMEEnabled", Plist::Bool(false)),
            ("allowMailDrop", Plist::Bool(true)),
        ]);
        let display_name = account
            .description
            .map_or_else(|| text(&self.display_name), str::to_string);
        let profile = Plist::Dict(vec![
            ("PayloadType", "Configuration".into()),
            ("PayloadVersion", Plist::Integer(1)),
            ("PayloadIdentifier", identifier.as_str().into()),
            ("PayloadUUID", uuid().into()),
            ("PayloadDisplayName", display_name.into()),
            ("PayloadDescription", text(&self.display_description).into()),
            ("PayloadOrganization", organization.as_str().into()),
            ("PayloadContent", Plist::Array(vec![mail])),
        ]);
        let mut xml = String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \
             \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
             <plist version=\"1.0\">\n",
        );
        profile.write(&mut xml);
        xml.push_str("</plist>\n");
        xml
    }
}

/// The few plist value types a profile uses.
enum Plist {
    String(String),
    Integer(i64),
    Bool(bool),
    Array(Vec<Plist>),
    Dict(Vec<(&'static str, Plist)>),
}

impl From<&str> for Plist {
    fn from(text: &str) -> Self {
        Plist::String(text.to_string())
    }
}

impl From<String> for Plist {
    fn from(text: String) -> Self {
        Plist::String(text)
    }
}

impl Plist {
    fn write(&self, out: &mut String) {
        match self {
            Plist::String(text) => {
                out.push_str("<string>");
                push_escaped(out, text);
                out.push_str("</string>\n");
            }
            Plist::Integer(number) => out.push_str(&format!("<integer>{number}</integer>\n")),
            Plist::Bool(true) => out.push_str("<true/>\n"),
            Plist::Bool(false) => out.push_str("<false/>\n"),
            Plist::Array(items) => {
                out.push_str("<array>\n");
                items.iter().for_each(|item| item.write(out));
                out.push_str("</array>\n");
            }
            Plist::Dict(entries) => {
                out.push_str("<dict>\n");
                for (key, value) in entries {
                    out.push_str("<key>");
                    push_escaped(out, key);
                    out.push_str("</key>\n");
                    value.write(out);
                }
                out.push_str("</dict>\n");
            }
        }
    }
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
}

/// A random (version 4) UUID, upper case as Apple's tools write them.
fn uuid() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_sets_up_the_account_with_the_password_escaped() {
        let config = MobileConfig::default();
        let xml = config.profile(&Account {
            id: "0123456789abcdef01234567",
            name: "Ann <&> Bee",
            address: "ann@example.com",
            pop3: false,
            description: Some("phone"),
            password: "abcdefghijklmnop",
        });
        assert!(xml.starts_with("<?xml"));
        assert!(
            xml.contains("<key>EmailAccountName</key>\n<string>Ann &lt;&amp;&gt; Bee</string>")
        );
        assert!(xml.contains("<key>IncomingPassword</key>\n<string>abcdefghijklmnop</string>"));
        assert!(xml.contains("<key>EmailAccountType</key>\n<string>EmailTypeIMAP</string>"));
        assert!(xml.contains("<key>PayloadIdentifier</key>\n<string>com.email.wildduck.0123456789abcdef01234567</string>"));
        assert!(xml.contains("<key>PayloadDisplayName</key>\n<string>phone</string>"));
        assert!(xml.contains("<key>IncomingMailServerPortNumber</key>\n<integer>993</integer>"));
        assert_eq!(xml.matches("<dict>").count(), 2);
    }

    #[test]
    fn uuids_are_version_4() {
        let id = uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(uuid(), id);
    }
}
