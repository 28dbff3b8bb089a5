//! The storage engine failing under a running listener: the answer says `[SYS/TEMP]`
//! (RFC 3206), so the client tries again later instead of giving up on the maildrop.

mod common;
#[path = "../../wildduck-store/tests/faults/mod.rs"]
mod faults;

use common::*;

#[tokio::test]
async fn an_update_on_a_failed_disk_is_a_temporary_error() {
    let (dir, account, server) = setup(test_config()).await;
    account.append(&message("first", 1)).await;
    account.append(&message("second", 1)).await;
    let mut client = server.logged_in(2).await;
    client
        .transcript("DELE 1\r\n", "+OK Message 1 deleted\r\n")
        .await;

    assert!(faults::sever_sqlite_files(dir.path()) > 0);

    client
        .transcript(
            "QUIT\r\n",
            "-ERR [SYS/TEMP] Some deleted messages not removed, try again later\r\n",
        )
        .await;
    client.expect_closed().await;
}
