//! Conformance checks of TOTP two-factor authentication: setup, enable, codes counted once,
//! the account password limited to `master`, sealed seeds.

use crate::backend::now;
use crate::error::*;
use crate::model::*;
use crate::store::Store;
use crate::totp;
use crate::two_factor::TotpRefusal;

use super::user;

/// The code an authenticator app shows `steps` steps from now.
fn code_from(seed: &str, steps: i64) -> String {
    let seed = data_encoding::BASE32_NOPAD
        .decode(seed.as_bytes())
        .expect("a base32 seed");
    totp::code(&seed, totp::step_at(now()) + steps)
}

pub async fn totp_two_factor(store: Store) {
    let erin = user(&store, "erin").await;
    assert_eq!(
        store.setup_totp(erin.id, "WildDuck", "erin").await.unwrap(),
        Err(TotpRefusal::NotConfigured),
        "no secret, no seeds kept in clear"
    );
    let store = store.with_totp_secret("conformance secret");
    assert!(matches!(
        store.setup_totp(UserId::new(), "WildDuck", "nobody").await,
        Err(Error::User(UserError::NotFound))
    ));
    assert_eq!(
        store.enable_totp(erin.id, "123456").await.unwrap(),
        Err(TotpRefusal::NotPending)
    );
    // A second setup before enabling replaces the first seed.
    let first = store
        .setup_totp(erin.id, "WildDuck", "erin")
        .await
        .unwrap()
        .unwrap();
    let setup = store
        .setup_totp(erin.id, "WildDuck", "erin")
        .await
        .unwrap()
        .unwrap();
    assert!(
        setup
            .otpauth_url
            .starts_with("otpauth://totp/WildDuck:erin?secret=")
    );
    assert!(setup.otpauth_url.contains(&setup.seed));
    assert!(!store.totp_enabled(erin.id).await.unwrap());
    let wrong = format!(
        "{:06}",
        (code_from(&setup.seed, 0).parse::<u32>().unwrap() + 1) % 1_000_000
    );
    for refused in [wrong.as_str(), "12345", "abcdef"] {
        assert_eq!(
            store.enable_totp(erin.id, refused).await.unwrap(),
            Err(TotpRefusal::InvalidCode),
            "{refused}"
        );
    }
    if code_from(&first.seed, 0) != code_from(&setup.seed, 0) {
        assert_eq!(
            store
                .enable_totp(erin.id, &code_from(&first.seed, 0))
                .await
                .unwrap(),
            Err(TotpRefusal::InvalidCode),
            "the replaced seed"
        );
    }
    // Enabling ends the sessions that logged in without the second factor.
    let mut logouts = store.watch_logout(erin.id);
    let enabling_code = code_from(&setup.seed, 0);
    assert_eq!(
        store.enable_totp(erin.id, &enabling_code).await.unwrap(),
        Ok(())
    );
    assert_eq!(&*logouts.recv().await.unwrap(), "Authentication required");
    assert!(store.totp_enabled(erin.id).await.unwrap());
    assert_eq!(
        store.setup_totp(erin.id, "WildDuck", "erin").await.unwrap(),
        Err(TotpRefusal::AlreadyEnabled)
    );

    // The code used to enable counts as used; the next step's is accepted once; an older
    // step's never again.
    assert_eq!(
        store.check_totp(erin.id, &enabling_code).await.unwrap(),
        Err(TotpRefusal::InvalidCode)
    );
    let next = code_from(&setup.seed, 1);
    assert_eq!(store.check_totp(erin.id, &next).await.unwrap(), Ok(()));
    assert_eq!(
        store.check_totp(erin.id, &next).await.unwrap(),
        Err(TotpRefusal::InvalidCode)
    );
    assert_eq!(
        store
            .check_totp(erin.id, &code_from(&setup.seed, -1))
            .await
            .unwrap(),
        Err(TotpRefusal::InvalidCode)
    );
    assert_eq!(
        store
            .check_totp(erin.id, &code_from(&setup.seed, 5))
            .await
            .unwrap(),
        Err(TotpRefusal::InvalidCode),
        "out of the window"
    );

    // The password opens `master` only, flagged; protocols need an ASP.
    let login = store
        .authenticate_from("erin", "pass word", Scope::Master, None)
        .await
        .unwrap();
    assert!(login.require_2fa);
    for scope in [Scope::Imap, Scope::Pop3, Scope::Smtp] {
        assert!(
            matches!(
                store.authenticate("erin", "pass word", scope).await,
                Err(Error::Auth(AuthError::WrongScope))
            ),
            "{scope}"
        );
    }
    let (_, asp) = store
        .create_asp(
            erin.id,
            NewAsp {
                description: "mail app".into(),
                ..NewAsp::default()
            },
        )
        .await
        .unwrap();
    let login = store
        .authenticate_from("erin", &asp, Scope::Imap, None)
        .await
        .unwrap();
    assert!(!login.require_2fa);

    // Another secret opens no seed: no code is accepted.
    let other = store.with_totp_secret("another secret");
    assert_eq!(
        other
            .check_totp(erin.id, &code_from(&setup.seed, 0))
            .await
            .unwrap(),
        Err(TotpRefusal::InvalidCode)
    );

    assert!(store.disable_totp(erin.id).await.unwrap());
    assert!(!store.disable_totp(erin.id).await.unwrap());
    assert_eq!(
        store
            .check_totp(erin.id, &code_from(&setup.seed, 0))
            .await
            .unwrap(),
        Err(TotpRefusal::NotEnabled)
    );
    store
        .authenticate("erin", "pass word", Scope::Imap)
        .await
        .unwrap();

    // A deleted user's TOTP goes with them.
    let gone = user(&store, "gone").await;
    let setup = store
        .setup_totp(gone.id, "WildDuck", "gone")
        .await
        .unwrap()
        .unwrap();
    store
        .enable_totp(gone.id, &code_from(&setup.seed, 0))
        .await
        .unwrap()
        .unwrap();
    store.delete_user(gone.id).await.unwrap();
    assert!(!store.totp_enabled(gone.id).await.unwrap());
}
