//! QUOTA (RFC 9208): GETQUOTAROOT, GETQUOTA in KiB, SETQUOTA refused, OVERQUOTA on
//! APPEND, COPY and MOVE.

use crate::harness::*;

#[tokio::test]
async fn quota_roots_usage_and_refusals() {
    let server = TestServer::start().await;
    let mut c = server.login().await;
    let caps = c.exchange("q0 CAPABILITY\r\n").await;
    assert!(caps.contains(" QUOTA QUOTA=RES-STORAGE"), "{caps}");
    assert!(!caps.contains("QUOTASET"), "{caps}");

    // Without a quota there is no quota root.
    assert_eq!(
        c.exchange("q1 GETQUOTAROOT INBOX\r\n").await,
        "* QUOTAROOT INBOX\r\nq1 OK Getquotaroot completed\r\n"
    );
    assert_eq!(
        c.exchange("q2 GETQUOTA \"\"\r\n").await,
        "q2 NO [NONEXISTENT] No such quota root\r\n"
    );

    let raw = message("sized", &"y".repeat(3000));
    assert!(
        append(&mut c, "a1", "INBOX", "", &raw)
            .await
            .contains("a1 OK")
    );
    let user = server.store.find_user(USER).await.expect("user");
    let used = server
        .store
        .get_user(user.id)
        .await
        .expect("user")
        .storage_used;
    assert!(used >= raw.len() as u64, "store counts {used} bytes");
    server
        .store
        .set_quota(user.id, Some(used + 1024 * 10))
        .await
        .expect("set quota");
    let usage = format!(
        "* QUOTA \"\" (STORAGE {} {})\r\n",
        used.div_ceil(1024),
        used / 1024 + 10
    );
    assert_eq!(
        c.exchange("q3 GETQUOTAROOT \"Sent Mail\"\r\n").await,
        format!("* QUOTAROOT \"Sent Mail\" \"\"\r\n{usage}q3 OK Getquotaroot completed\r\n")
    );
    assert_eq!(
        c.exchange("q4 GETQUOTA \"\"\r\n").await,
        format!("{usage}q4 OK Getquota completed\r\n")
    );
    assert_eq!(
        c.exchange("q5 GETQUOTA \"other\"\r\n").await,
        "q5 NO [NONEXISTENT] No such quota root\r\n"
    );
    assert_eq!(
        c.exchange("q6 GETQUOTAROOT Nope\r\n").await,
        "q6 NO [NONEXISTENT] No such mailbox\r\n"
    );
    assert_eq!(
        c.exchange("q7 SETQUOTA \"\" (STORAGE 99999)\r\n").await,
        "q7 NO [NOPERM] Quotas are set by the administrator, not over IMAP\r\n"
    );
    assert!(c.exchange("q8 GETQUOTA\r\n").await.starts_with("q8 BAD"));

    // Filling the quota: APPEND is refused before the literal, COPY and MOVE after.
    c.send("a2 APPEND INBOX {20000}\r\n").await;
    assert_eq!(c.line().await, "a2 NO [OVERQUOTA] Quota exceeded\r\n");
    for i in 0..3 {
        let reply = append(&mut c, &format!("f{i}"), "INBOX", "", &raw).await;
        assert!(reply.contains(&format!("f{i} OK")), "{reply}");
    }
    let reply = append(&mut c, "f3", "INBOX", "", &raw).await;
    assert_eq!(reply, "f3 NO [OVERQUOTA] Quota exceeded\r\n");
    c.exchange("s1 SELECT INBOX\r\n").await;
    assert_eq!(
        c.exchange("c1 COPY 1:4 Trash\r\n").await,
        "c1 NO [OVERQUOTA] Quota exceeded\r\n"
    );
    let moved = c.exchange("m1 MOVE 1 Trash\r\n").await;
    assert!(
        moved.contains("m1 OK"),
        "a move within one user needs no room: {moved}"
    );
    assert!(
        c.exchange("u1 LOGOUT\r\n").await.contains("u1 OK"),
        "session still fine"
    );
    server.stop().await;
}

#[tokio::test]
async fn quota_commands_need_a_login() {
    let server = TestServer::start().await;
    let mut c = server.connect().await;
    assert!(
        c.exchange("q1 GETQUOTAROOT INBOX\r\n")
            .await
            .starts_with("q1 BAD")
    );
    server.stop().await;
}
