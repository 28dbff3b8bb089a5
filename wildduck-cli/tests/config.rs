//! `wildduck config print|check`, environment overrides, and usage errors.

mod common;

use common::{Env, code, parse_json};

#[test]
fn print_shows_defaults_and_environment_overrides_as_toml() {
    let env = Env::new();
    let output = env
        .command(&["config", "print"])
        .env("WILDDUCK_IMAP_LISTEN", "127.0.0.1:2143")
        .env("WILDDUCK_POP3_TLS_LISTEN", "127.0.0.1:2995")
        .env("WILDDUCK_LMTP_LISTEN", "127.0.0.1:2525")
        .output()
        .unwrap();
    assert_eq!(code(&output), 0);
    let text = String::from_utf8(output.stdout).unwrap();
    let doc: toml::Table = text.parse().expect("config print is TOML");
    assert_eq!(doc["imap"]["listen"].as_str(), Some("127.0.0.1:2143"));
    assert_eq!(doc["pop3"]["tls_listen"].as_str(), Some("127.0.0.1:2995"));
    assert_eq!(doc["pop3"]["listen"].as_str(), Some("127.0.0.1:1110"));
    assert_eq!(doc["lmtp"]["listen"].as_str(), Some("127.0.0.1:2525"));
    assert_eq!(doc["lmtp"]["enabled"].as_bool(), Some(true));
    assert_eq!(doc["lmtp"]["max_recipients"].as_integer(), Some(1000));
    assert_eq!(doc["data_dir"].as_str(), env.data_dir().to_str());
}

#[test]
fn print_masks_secrets_in_text_and_json() {
    let env = Env::new();
    let file = env.path("wildduck.toml");
    std::fs::write(
        &file,
        "[initial_account]\nusername = \"boss\"\npassword = \"hunter2-secret\"\n",
    )
    .unwrap();
    let file = file.to_str().unwrap();

    let text = env.run(&["--config", file, "config", "print"]);
    assert_eq!(code(&text), 0);
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("username = \"boss\""), "{text}");

    let doc = env.ok(&["--config", file, "config", "print"]);
    assert_eq!(doc["initial_account"]["password"], "********");
    assert_eq!(doc["initial_account"]["username"], "boss");
}

#[test]
fn the_config_file_can_come_from_the_environment() {
    let env = Env::new();
    let file = env.path("c.toml");
    std::fs::write(&file, "[imap]\nlisten = \"127.0.0.1:3143\"\n").unwrap();
    let output = env
        .command(&["--json", "config", "print"])
        .env("WILDDUCK_CONFIG", &file)
        .output()
        .unwrap();
    assert_eq!(code(&output), 0);
    assert_eq!(parse_json(&output)["imap"]["listen"], "127.0.0.1:3143");
}

#[test]
fn check_accepts_a_good_config_and_refuses_bad_ones_with_exit_78() {
    let env = Env::new();
    assert_eq!(env.ok(&["config", "check"])["ok"], true);

    let bad_key = env.path("typo.toml");
    std::fs::write(&bad_key, "[imap]\nlistn = \"127.0.0.1:1\"\n").unwrap();
    let error = env.fails(
        &["--config", bad_key.to_str().unwrap(), "config", "check"],
        78,
        "config",
    );
    assert!(
        error["message"].as_str().unwrap().contains("imap.listn"),
        "{error}"
    );

    let bad_toml = env.path("broken.toml");
    std::fs::write(&bad_toml, "[imap\n").unwrap();
    env.fails(
        &["--config", bad_toml.to_str().unwrap(), "config", "check"],
        78,
        "config",
    );

    let missing = env.path("missing.toml");
    env.fails(
        &["--config", missing.to_str().unwrap(), "config", "check"],
        78,
        "config",
    );

    let half_tls = env.path("tls.toml");
    std::fs::write(&half_tls, "[tls]\ncert = \"/nonexistent/cert.pem\"\n").unwrap();
    let error = env.fails(
        &["--config", half_tls.to_str().unwrap(), "config", "check"],
        78,
        "config",
    );
    assert!(
        error["message"].as_str().unwrap().contains("together"),
        "{error}"
    );

    let missing_files = env.path("tls2.toml");
    std::fs::write(
        &missing_files,
        "[tls]\ncert = \"/nonexistent/c.pem\"\nkey = \"/nonexistent/k.pem\"\n",
    )
    .unwrap();
    let error = env.fails(
        &[
            "--config",
            missing_files.to_str().unwrap(),
            "config",
            "check",
        ],
        78,
        "config",
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/c.pem"),
        "{error}"
    );
}

/// The environment is shared with other programs: a `WILDDUCK_*` variable that names no
/// configuration key is ignored, but a known key with a bad value is still a config error.
#[test]
fn unknown_environment_variables_are_ignored_and_malformed_ones_are_config_errors() {
    let env = Env::new();
    let output = env
        .command(&["--json", "config", "check"])
        .env("WILDDUCK_IMAP_LISTN", "x")
        .output()
        .unwrap();
    assert_eq!(
        code(&output),
        0,
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let output = env
        .command(&["--json", "config", "check"])
        .env("WILDDUCK_IMAP_LISTEN", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(code(&output), 78);
    let doc = parse_json(&output);
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("imap.listen"),
        "{doc}"
    );
}

#[test]
fn tls_files_are_checked_when_configured() {
    let env = Env::new();
    let (cert, key) = env.self_signed_certificate();
    let config = env.path("tls.toml");
    std::fs::write(
        &config,
        format!("[tls]\ncert = {:?}\nkey = {:?}\n", cert, key),
    )
    .unwrap();
    let doc = env.ok(&["--config", config.to_str().unwrap(), "config", "check"]);
    assert_eq!(doc["tls"], true);

    // A certificate where the key should be is refused.
    std::fs::write(
        &config,
        format!("[tls]\ncert = {:?}\nkey = {:?}\n", cert, cert),
    )
    .unwrap();
    env.fails(
        &["--config", config.to_str().unwrap(), "config", "check"],
        78,
        "config",
    );
}

#[test]
fn usage_errors_exit_64_also_as_json() {
    let env = Env::new();
    let output = env.run(&["user", "frobnicate"]);
    assert_eq!(code(&output), 64);
    assert!(!output.stderr.is_empty());

    let (status, doc) = env.json(&["user", "quota", "alice", "lots"]);
    assert_eq!(status, 64);
    assert_eq!(doc["error"]["kind"], "usage");

    let help = env.run(&["--help"]);
    assert_eq!(code(&help), 0);
    assert!(String::from_utf8_lossy(&help.stdout).contains("Exit codes"));
}

#[test]
fn admin_commands_refuse_a_missing_data_dir_instead_of_making_one() {
    let env = Env::new();
    let error = env.fails(&["user", "list"], 78, "config");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{error}"
    );
    assert!(!env.data_dir().exists());
}
