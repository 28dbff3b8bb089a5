//! The Dovecot answers that the MIME and IMAP tests compare against
//! (`wildduck-store/tests/golden/dovecot/`) are still what a live Dovecot says: this test
//! starts Dovecot on a loopback port, records every fixture again into a temp dir and
//! requires the same bytes. So the differential tests are against Dovecot itself, not
//! against files that could have drifted.

use std::collections::BTreeSet;
use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

fn file_names(dir: &Path) -> BTreeSet<String> {
    fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn recorded_goldens_equal_a_live_dovecot() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("../wildduck-store/tests/golden");
    let fresh = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();

    let output = Command::new("sh")
        .arg(golden.join("record-dovecot.sh"))
        .env("GOLDEN_OUT", fresh.path())
        .env("DOVECOT_PORT", port.to_string())
        .env("KEEP_TMP", "1")
        .output()
        .expect("running record-dovecot.sh (needs dovecot-imapd: run .ci/setup)");
    assert!(
        output.status.success(),
        "recording failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let committed_dir = golden.join("dovecot");
    let committed = file_names(&committed_dir);
    assert_eq!(
        file_names(fresh.path()),
        committed,
        "same set of golden files"
    );
    for name in &committed {
        let want = fs::read(committed_dir.join(name)).unwrap();
        let got = fs::read(fresh.path().join(name)).unwrap();
        assert!(
            want == got,
            "{name}: Dovecot now answers differently from the committed golden file \
             (re-record with wildduck-store/tests/golden/record-dovecot.sh and review the diff)"
        );
    }
}
