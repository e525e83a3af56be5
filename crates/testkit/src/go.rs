//! Go for the reference tests: Debian's `golang-go` with its copy of `golang.org/x/mod`
//! (`sumdb/note`, `sumdb/tlog`) as a GOPATH, which `.ci/go-deps` installs. Shared by the
//! tests that run a Go program (`proto/tests/tlog_reference.rs` includes this file by path, as
//! `proto` cannot depend on this crate).

use std::path::Path;
use std::process::Command;

/// Where Debian's `golang-golang-x-mod-dev` puts `golang.org/x/mod`, as a GOPATH.
pub const GOPATH: &str = "/usr/share/gocode";

/// Whether Go and `golang.org/x/mod` are installed. Without them a test skips, saying so,
/// except under `CI`, where this fails.
pub fn go_is_there() -> bool {
    let have_go = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|out| out.status.success());
    let have_mod = Path::new(GOPATH)
        .join("src/golang.org/x/mod/sumdb/note")
        .is_dir();
    if have_go && have_mod {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but Go or golang.org/x/mod is missing; .ci/go-deps installs them"
    );
    eprintln!("Go reference test skipped: apt-get install golang-go golang-golang-x-mod-dev");
    false
}

/// `go` with its arguments to come, set up for the GOPATH above (no modules) with its build
/// cache in `cache`.
pub fn go(cache: &Path) -> Command {
    let mut command = Command::new("go");
    command
        .env("GO111MODULE", "off")
        .env("GOPATH", GOPATH)
        .env("GOCACHE", cache)
        .env("GOFLAGS", "")
        .env_remove("GOROOT");
    command
}
