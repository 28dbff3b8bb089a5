//! The limit counters in Redis, as two server processes share them: a lockout reached
//! through one store holds on the other, daily byte counts add up across both, keys expire,
//! and a Redis restart degrades to per-process counting and then back to shared counting.
#![cfg(all(feature = "mongodb", feature = "redis"))]

mod servers;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use servers::{RedisServer, fresh_database_uri, servers};
use wildduck_store::limits::redis::RedisCounters;
use wildduck_store::testkit::user;
use wildduck_store::*;

const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
const WAIT: Duration = Duration::from_secs(15);

async fn pair(redis_url: &str) -> (Store, Store) {
    let uri = fresh_database_uri(&servers().mongodb_uri);
    let open = || Store::open_mongodb(&uri, Some(redis_url), StoreConfig::default());
    (
        open().await.expect("store A"),
        open().await.expect("store B"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockout_and_daily_bytes_are_shared_between_stores() {
    let redis = RedisServer::start();
    let (a, b) = pair(&redis.url()).await;
    let limits = a.limits().clone();
    assert!(b.login_allowed("mallory", IP).await.unwrap().is_ok());
    for _ in 0..limits.max_user_failures - 1 {
        a.record_login_failure("mallory", IP).await.unwrap();
    }
    assert!(b.login_allowed("mallory", IP).await.unwrap().is_ok());
    // The last failure goes through the other store: both count into one counter.
    b.record_login_failure("Mallory", IP).await.unwrap();
    let left = a
        .login_allowed("mallory", IP)
        .await
        .unwrap()
        .expect_err("locked after failures through both stores");
    assert!(left <= limits.lock && left > limits.lock / 2, "{left:?}");
    assert!(b.login_allowed("MALLORY", IP).await.unwrap().is_err());
    assert!(b.login_allowed("alice", IP).await.unwrap().is_ok());

    let owner = user(&a, "traffic").await;
    assert_eq!(a.add_download(owner.id, 600).await.unwrap(), Ok(600));
    assert_eq!(b.add_download(owner.id, 50).await.unwrap(), Ok(650));
    assert_eq!(b.add_upload(owner.id, 7).await.unwrap(), Ok(7));
}

#[tokio::test]
async fn counters_expire_and_keep_their_ttl_when_added_to() {
    let redis = RedisServer::start();
    let counters = RedisCounters::connect(&redis.url()).await.unwrap();
    let ttl = Duration::from_millis(600);
    assert_eq!(counters.add("k", 2, ttl).await.unwrap(), 2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Adding to a live key keeps its expiry: the longer TTL given now is ignored.
    assert_eq!(
        counters.add("k", 3, Duration::from_secs(60)).await.unwrap(),
        5
    );
    let (value, left) = counters.get("k").await.unwrap().expect("live");
    assert_eq!(value, 5);
    assert!(left <= Duration::from_millis(300), "{left:?}");
    tokio::time::sleep(left + Duration::from_millis(100)).await;
    assert_eq!(counters.get("k").await.unwrap(), None);
    assert_eq!(
        counters.add("k", 1, ttl).await.unwrap(),
        1,
        "starts again at 0"
    );

    counters.set("s", 9, ttl).await.unwrap();
    assert_eq!(counters.get("s").await.unwrap().map(|(v, _)| v), Some(9));
    counters.remove("s").await.unwrap();
    assert_eq!(counters.get("s").await.unwrap(), None);
}

/// Adds 1 to `key` through `writer` until `reader` (another process's view) sees it.
async fn until_shared(writer: &RedisCounters, reader: &RedisCounters, key: &str) -> u64 {
    let deadline = Instant::now() + WAIT;
    loop {
        writer.add(key, 1, Duration::from_secs(60)).await.unwrap();
        if let Some((value, _)) = reader.get(key).await.unwrap() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "counters not shared again in {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_redis_restart_falls_back_to_local_counts_then_shares_again() {
    let mut redis = RedisServer::start();
    let a = RedisCounters::connect(&redis.url()).await.unwrap();
    let b = RedisCounters::connect(&redis.url()).await.unwrap();
    let minute = Duration::from_secs(60);
    assert_eq!(a.add("before", 4, minute).await.unwrap(), 4);
    assert_eq!(b.get("before").await.unwrap().map(|(v, _)| v), Some(4));

    redis.stop();
    // Fails open: each process counts on by itself, without errors.
    assert_eq!(a.add("during", 1, minute).await.unwrap(), 1);
    assert_eq!(a.add("during", 1, minute).await.unwrap(), 2);
    assert_eq!(a.get("during").await.unwrap().map(|(v, _)| v), Some(2));
    assert_eq!(
        b.get("during").await.unwrap(),
        None,
        "not shared while away"
    );
    a.set("lock:during", 1, minute).await.unwrap();
    assert!(a.get("lock:during").await.unwrap().is_some());
    // Session slots too: counted in this process only, and freed locally.
    assert!(a.acquire_slot("slots", "one", 1).await.unwrap());
    assert!(!a.acquire_slot("slots", "two", 1).await.unwrap());
    assert!(b.acquire_slot("slots", "two", 1).await.unwrap());
    a.release_slot("slots", "one");
    assert!(a.acquire_slot("slots", "two", 1).await.unwrap());

    redis.restart();
    // Redis came back empty (no persistence): counting is shared again, from zero.
    let seen = until_shared(&a, &b, "after").await;
    assert!(seen >= 1);
    assert_eq!(
        b.add("after", 10, minute).await.unwrap(),
        seen + 10,
        "both count into one key again"
    );
}

/// Holds slots of `key` for `holders` until one is refused; returns how many it got.
async fn take_slots(counters: &RedisCounters, key: &str, holders: &[&str], limit: u64) -> usize {
    let mut taken = 0;
    for holder in holders {
        if counters.acquire_slot(key, holder, limit).await.unwrap() {
            taken += 1;
        }
    }
    taken
}

#[tokio::test]
async fn session_slots_are_shared_renewed_released_and_lapse_with_their_process() {
    let redis = RedisServer::start();
    let ttl = Duration::from_millis(600);
    let a = RedisCounters::connect_with_slot_ttl(&redis.url(), ttl)
        .await
        .unwrap();
    let b = RedisCounters::connect_with_slot_ttl(&redis.url(), ttl)
        .await
        .unwrap();
    // A limit of 3 shared by two processes: two through A, one through B, then full.
    assert_eq!(take_slots(&a, "sessions", &["a1", "a2"], 3).await, 2);
    assert_eq!(take_slots(&b, "sessions", &["b1", "b2"], 3).await, 1);
    assert!(!a.acquire_slot("sessions", "a3", 3).await.unwrap());

    // Live processes renew their slots: still full well past one TTL.
    tokio::time::sleep(ttl * 3).await;
    assert!(!b.acquire_slot("sessions", "b2", 3).await.unwrap());

    // A released slot is free for the other process (the removal runs in the background).
    b.release_slot("sessions", "b1");
    let deadline = Instant::now() + WAIT;
    while !a.acquire_slot("sessions", "a3", 3).await.unwrap() {
        assert!(Instant::now() < deadline, "released slot never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A dies holding a1..a3 without releasing them: they stay taken until the TTL runs out,
    // then B gets all three.
    drop(a);
    assert_eq!(take_slots(&b, "sessions", &["b1", "b2", "b3"], 3).await, 0);
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    assert_eq!(take_slots(&b, "sessions", &["b1", "b2", "b3"], 3).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_session_limit_holds_across_stores() {
    let redis = RedisServer::start();
    let (a, b) = pair(&redis.url()).await;
    let owner = user(&a, "sessions").await;
    let first = a.hold_session("imap", owner.id, 2).await.unwrap();
    let second = b.hold_session("imap", owner.id, 2).await.unwrap();
    assert!(first.is_some() && second.is_some());
    assert!(a.hold_session("imap", owner.id, 2).await.unwrap().is_none());
    assert!(b.hold_session("imap", owner.id, 2).await.unwrap().is_none());
    drop(first);
    let deadline = Instant::now() + WAIT;
    while b.hold_session("imap", owner.id, 2).await.unwrap().is_none() {
        assert!(Instant::now() < deadline, "dropped session never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
