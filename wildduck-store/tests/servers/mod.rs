//! MongoDB-wire and Redis servers for the distributed-mode tests.
//!
//! `WILDDUCK_TEST_MONGODB_URI` / `WILDDUCK_TEST_REDIS_URL` point the tests at servers run
//! elsewhere (a real replica set, say). When unset, the test binary starts its own
//! `nx-27017 --data-dir memory` and `redis-server` on free loopback ports (once per test
//! binary; a watcher stops them when the test process exits). When neither is possible
//! the test fails and says how to provide the servers — it never skips silently.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use wildduck_store::{Store, StoreConfig};

pub const MONGODB_ENV: &str = "WILDDUCK_TEST_MONGODB_URI";
pub const REDIS_ENV: &str = "WILDDUCK_TEST_REDIS_URL";

const HOW_TO: &str = "install the servers (`pip install nx-27017`, `apt-get install redis-server`) \
so the tests can start them, or start them yourself and export \
WILDDUCK_TEST_MONGODB_URI=mongodb://127.0.0.1:PORT/?directConnection=true and \
WILDDUCK_TEST_REDIS_URL=redis://127.0.0.1:PORT/ \
(e.g. `nx-27017 --data-dir memory -p 27017 &` and `redis-server --port 6379 --save '' &`)";

pub struct Servers {
    pub mongodb_uri: String,
    pub redis_url: String,
    /// The servers this binary started (none when the environment named them); they live
    /// as long as the test process, and the watcher stops them after it.
    _nx_27017: Option<MongoServer>,
    _redis: Option<RedisServer>,
}

/// The servers of this test binary, started on first use.
pub fn servers() -> &'static Servers {
    static SERVERS: OnceLock<Servers> = OnceLock::new();
    SERVERS.get_or_init(|| {
        let (mongodb_uri, nx_27017) = match std::env::var(MONGODB_ENV) {
            Ok(uri) => (uri, None),
            Err(_) => {
                let server = MongoServer::start();
                (server.uri(), Some(server))
            }
        };
        let (redis_url, redis) = match std::env::var(REDIS_ENV) {
            Ok(url) => (url, None),
            Err(_) => {
                let redis = RedisServer::start();
                (redis.url(), Some(redis))
            }
        };
        Servers {
            mongodb_uri,
            redis_url,
            _nx_27017: nx_27017,
            _redis: redis,
        }
    })
}

/// `uri` with its database replaced by a fresh one, so every store starts empty.
pub fn fresh_database_uri(uri: &str) -> String {
    let name = format!("wdtest_{}", wildduck_store::RecordId::new());
    let (scheme, rest) = uri.split_once("://").expect("URI has a scheme");
    let (hosts, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let options = tail.split_once('?').map(|(_, q)| q).unwrap_or("");
    if options.is_empty() {
        format!("{scheme}://{hosts}/{name}")
    } else {
        format!("{scheme}://{hosts}/{name}?{options}")
    }
}

/// A store over a fresh, empty database of the shared servers.
pub async fn fresh_store() -> Store {
    let servers = servers();
    Store::open_mongodb(
        &fresh_database_uri(&servers.mongodb_uri),
        Some(&servers.redis_url),
        StoreConfig::default(),
    )
    .await
    .expect("open MongoDB store")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wildduck-test-servers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Runs `program args…` under a shell watcher that kills it once this test process is gone.
fn spawn_watched(program: &str, args: &[String], log: &Path) -> Child {
    let quoted: Vec<String> = std::iter::once(program.to_string())
        .chain(args.iter().cloned())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    let script = format!(
        "{} >'{}' 2>&1 & server=$!; trap 'kill $server 2>/dev/null' EXIT TERM; \
         while kill -0 {} 2>/dev/null && kill -0 $server 2>/dev/null; do sleep 1; done",
        quoted.join(" "),
        log.display(),
        std::process::id()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("starting {program}: {e}; {HOW_TO}"))
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// An nx-27017 of our own, stoppable; in memory, or on disk and then restartable with its
/// data.
pub struct MongoServer {
    pub port: u16,
    /// `memory`, or the directory its databases live in.
    data: String,
    child: Option<Child>,
}

impl MongoServer {
    pub fn start() -> Self {
        let mut server = MongoServer {
            port: free_port(),
            data: "memory".to_string(),
            child: None,
        };
        server.restart();
        server
    }

    /// One whose data lives in files, so [`Self::restart`] finds it again.
    pub fn start_on_disk() -> Self {
        let port = free_port();
        let dir = scratch_dir().join(format!("nx-data-{port}"));
        std::fs::create_dir_all(&dir).expect("nx-27017 data dir");
        let mut server = MongoServer {
            port,
            data: dir.display().to_string(),
            child: None,
        };
        server.restart();
        server
    }

    pub fn uri(&self) -> String {
        format!("mongodb://127.0.0.1:{}/?directConnection=true", self.port)
    }

    /// Starts (again) on the same port and data.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        self.child = Some(start_nx_27017(self.port, &self.data));
    }

    /// Stops the server and waits until the port is closed.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_watched(child, self.port, "nx-27017");
        }
    }
}

impl Drop for MongoServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn start_nx_27017(port: u16, data: &str) -> Child {
    assert!(
        on_path("nx-27017"),
        "{MONGODB_ENV} is unset and nx-27017 is not installed: {HOW_TO}"
    );
    let dir = scratch_dir();
    let args: Vec<String> = [
        "--data-dir",
        data,
        "--host",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "--log-file",
        &dir.join(format!("nx-{port}.log")).display().to_string(),
        "--pid-file",
        &dir.join(format!("nx-{port}.pid")).display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let child = spawn_watched("nx-27017", &args, &dir.join(format!("nx-{port}.out")));
    wait_for_port(port, "nx-27017");
    child
}

/// Stops a server started by [`spawn_watched`] (the watcher's trap kills the server when the
/// watcher is terminated) and waits until its port is closed.
fn stop_watched(mut watcher: Child, port: u16, what: &str) {
    let _ = Command::new("kill").arg(watcher.id().to_string()).status();
    let _ = watcher.wait();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(Instant::now() < deadline, "{what} did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A redis-server of our own, stoppable and restartable on the same port.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> Self {
        assert!(
            on_path("redis-server"),
            "{REDIS_ENV} is unset and redis-server is not installed: {HOW_TO}"
        );
        let mut server = RedisServer {
            port: free_port(),
            child: None,
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts (again) on the same port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let args: Vec<String> = [
            "--port",
            &self.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let log = scratch_dir().join(format!("redis-{}.log", self.port));
        self.child = Some(spawn_watched("redis-server", &args, &log));
        wait_for_port(self.port, "redis-server");
    }

    /// Stops the server and waits until the port is closed.
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_watched(child, self.port, "redis-server");
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
