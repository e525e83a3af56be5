//! The web console in a real browser: headless Chromium driven through chromedriver
//! (WebDriver), against two real stations. Operators log in through the form; a FLASH from
//! the peer, an answer to it, an alarm, notices and coded messages show on open pages without
//! reload (the event stream and the console's script); a second tab updates live too on the
//! one event stream the browser holds, which passes to it when the first tab closes; a FLASH
//! to answer or an alarm to acknowledge marks the tab's title until it is answered or
//! acknowledged, not merely seen or reloaded; a notice the codebook refuses shows its error
//! beside the field before it is sent, and the browser does not send it until it is fixed;
//! acknowledging an alarm and logging out work from the page.
//!
//! Needs /usr/bin/chromium and /usr/bin/chromedriver (Debian's `chromium`, `chromium-driver`;
//! `.ci/browser-deps` installs them). Without them the test skips, except under `CI`, where it
//! fails. Screenshots of the board and the inbox go to `docs/screenshots/`; one of the page a
//! failed step was on goes to the test's directory, which is kept when the test fails.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{agree_example_codebook, await_channel, exe};
use fantoccini::error::CmdError;
use fantoccini::wd::WindowHandle;
use fantoccini::{Client, ClientBuilder, Locator};
use parley_testkit::harness::{StationProcess, free_tcp_port, wait_until};
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Headless, and nothing that reaches out on its own (the closed network refuses it).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
];

/// How long chromedriver may take to listen.
const DRIVER_START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a page may take to show what a step waits for: a page load or a live update.
const PAGE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long after a FLASH's 4 s deadline Alpha's watch may take to raise its alarm and the
/// alarms page to show it.
const ALARM_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a page is given to act on an event before the test checks that it did not
/// reload itself.
const EVENT_GRACE: Duration = Duration::from_secs(2);
/// How often a wait looks at the page again.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// How long a station may take to see an entry or a codebook from its peer, or its console
/// to listen.
const SEEN_TIMEOUT: Duration = Duration::from_secs(30);

const ANA_PASSWORD: &str = "ana's correct horse battery staple";
const BORIS_PASSWORD: &str = "boris's correct horse battery staple";

/// Whether the browser is installed; under `CI` it must be.
fn browser_installed() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|path| !Path::new(path).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI is set but {missing:?} is missing; .ci/browser-deps installs chromium and chromium-driver"
    );
    eprintln!(
        "browser test skipped: {missing:?} not installed (apt-get install chromium chromium-driver)"
    );
    false
}

/// chromedriver in its own process group, killed with everything it started (Chromium)
/// when dropped, on a panic too.
struct Driver {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Driver {
    fn start(dir: &Path) -> Self {
        let port = free_tcp_port().expect("a free port");
        let log = dir.join("chromedriver.log");
        let out = std::fs::File::create(&log).expect("create the chromedriver log");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("clone the log file"))
            .stderr(out)
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let up = wait_until(DRIVER_START_TIMEOUT, || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        assert!(
            up,
            "chromedriver did not listen on {port} within {DRIVER_START_TIMEOUT:?}; its log:\n{}",
            driver.log_text()
        );
        driver
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = i32::try_from(self.child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(group) = group {
            // Chromium and its helpers are in chromedriver's group; it may be gone already.
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
        }
        let _ = self.child.wait();
    }
}

/// The test's directory, kept (and named) when the test fails, for its screenshots and logs.
struct Scratch(Option<tempfile::TempDir>);

impl Scratch {
    fn path(&self) -> &Path {
        self.0.as_ref().expect("present until dropped").path()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(dir) = self.0.take()
        {
            eprintln!("the test's files are kept in {}", dir.keep().display());
        }
    }
}

/// One operator's browser: a WebDriver session with its own Chromium profile, on one
/// station's console.
struct Browser {
    client: Client,
    who: &'static str,
    console: String,
    dir: PathBuf,
}

impl Browser {
    async fn open(driver: &Driver, who: &'static str, console: SocketAddr, dir: &Path) -> Self {
        let profile = dir.join(format!("chromium-{who}"));
        std::fs::create_dir_all(&profile).expect("create the profile directory");
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|&flag| flag.to_owned()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": CHROMIUM, "args": args },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("an object literal")
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "{who}'s browser did not start: {error}; chromedriver's log:\n{}",
                    driver.log_text()
                )
            });
        Browser {
            client,
            who,
            console: format!("http://{console}"),
            dir: dir.to_owned(),
        }
    }

    async fn goto(&self, path: &str) {
        let url = format!("{}{path}", self.console);
        if let Err(error) = self.client.goto(&url).await {
            self.fail(&format!("opening {url}: {error}")).await;
        }
    }

    /// Where the page is and the text it shows, for failure messages.
    async fn describe(&self) -> String {
        let url = match self.client.current_url().await {
            Ok(url) => url.to_string(),
            Err(error) => format!("(no URL: {error})"),
        };
        let text = match self.client.find(Locator::Css("body")).await {
            Ok(body) => body
                .text()
                .await
                .unwrap_or_else(|error| format!("(no text: {error})")),
            Err(error) => format!("(no body: {error})"),
        };
        format!("{url}\n-----\n{text}\n-----")
    }

    /// Fails the test with what the page shows, after a screenshot of it.
    async fn fail(&self, what: &str) -> ! {
        let shot = self.dir.join(format!("failure-{}.png", self.who));
        let saved = match self.client.screenshot().await {
            Ok(png) => std::fs::write(&shot, png).map_or_else(
                |error| format!("screenshot not written: {error}"),
                |()| format!("screenshot {}", shot.display()),
            ),
            Err(error) => format!("no screenshot: {error}"),
        };
        panic!(
            "{}'s browser: {what}\n({saved}) the page shows {}",
            self.who,
            self.describe().await
        );
    }

    async fn screenshot(&self, path: &Path) {
        match self.client.screenshot().await {
            Ok(png) => std::fs::write(path, png).expect("write the screenshot"),
            Err(error) => self.fail(&format!("taking a screenshot: {error}")).await,
        }
    }

    /// Runs `action` until it succeeds: a live update may replace the element it works on
    /// between finding and using it.
    async fn retry<T>(&self, what: &str, action: impl AsyncFn() -> Result<T, CmdError>) -> T {
        let deadline = Instant::now() + PAGE_TIMEOUT;
        loop {
            match action().await {
                Ok(value) => return value,
                Err(error) if Instant::now() >= deadline => {
                    self.fail(&format!("{what} within {PAGE_TIMEOUT:?}: {error}"))
                        .await
                }
                Err(_) => tokio::time::sleep(POLL_INTERVAL).await,
            }
        }
    }

    /// Replaces what the field named `name` inside `scope` (a CSS selector) holds with
    /// `value`, typed. Once typing starts the field has the focus, and the console's script
    /// does not replace the page under it.
    async fn fill(&self, scope: &str, name: &str, value: &str) {
        let css = format!("{scope} [name=\"{name}\"]");
        self.retry(&format!("typing into {css}"), async || {
            // Whatever the field holds goes first: a refused form comes back filled.
            let field = self.client.find(Locator::Css(&css)).await?;
            field.clear().await?;
            field.send_keys(value).await
        })
        .await;
    }

    async fn click(&self, css: &str) {
        self.retry(&format!("clicking {css}"), async || {
            self.client.find(Locator::Css(css)).await?.click().await
        })
        .await;
    }

    /// Waits (without navigating) until an element matching `css` shows `needle`; returns
    /// its text and id.
    async fn wait_for(&self, css: &str, needle: &str, timeout: Duration) -> (String, String) {
        let deadline = Instant::now() + timeout;
        loop {
            for element in self
                .client
                .find_all(Locator::Css(css))
                .await
                .unwrap_or_default()
            {
                // The page swaps its content in when an event arrives: an element found a
                // moment ago may be gone (stale), and is looked for again.
                if let Ok(text) = element.text().await
                    && text.contains(needle)
                    && let Ok(id) = element.attr("id").await
                {
                    return (text, id.unwrap_or_default());
                }
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "nothing matching {css:?} showed {needle:?} within {timeout:?}"
                ))
                .await;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Opens a page and waits until its event stream is open: from then on, what the
    /// station records shows on it without reload.
    async fn open_live(&self, path: &str, heading: &str) {
        self.goto(path).await;
        self.wait_for("main#main h1", heading, PAGE_TIMEOUT).await;
        self.wait_for("body[data-events=\"open\"]", "", PAGE_TIMEOUT)
            .await;
        self.mark().await;
    }

    /// Marks the page's window; a reload or a navigation loses the mark.
    async fn mark(&self) {
        if let Err(error) = self
            .client
            .execute("window.parleyTest = true", Vec::new())
            .await
        {
            self.fail(&format!("marking the page: {error}")).await;
        }
    }

    /// Fails unless the page still has its mark: what it shows came without reload.
    async fn assert_not_reloaded(&self, what: &str) {
        let marked = self
            .client
            .execute("return window.parleyTest === true", Vec::new())
            .await;
        if !matches!(marked, Ok(serde_json::Value::Bool(true))) {
            self.fail(&format!("the page was reloaded or left ({what})"))
                .await;
        }
    }

    /// Waits (without navigating) until the tab's title is `expected`.
    async fn wait_for_title(&self, expected: &str) {
        let deadline = Instant::now() + PAGE_TIMEOUT;
        loop {
            let title = self.client.title().await.unwrap_or_default();
            if title == expected {
                return;
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "the title is {title:?}, not {expected:?}, after {PAGE_TIMEOUT:?}"
                ))
                .await;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Fails unless the tab's title is `expected` now.
    async fn assert_title(&self, expected: &str, when: &str) {
        let title = self.client.title().await.unwrap_or_default();
        if title != expected {
            self.fail(&format!("{when}, the title is {title:?}, not {expected:?}"))
                .await;
        }
    }

    /// What the nav's badge `id` says; `None` while it is hidden (nothing to count).
    async fn badge(&self, id: &str) -> Option<String> {
        let script = format!(
            "const badge = document.getElementById({id:?}); \
             return badge && !badge.hidden ? badge.textContent : null"
        );
        match self.client.execute(&script, Vec::new()).await {
            Ok(serde_json::Value::String(text)) => Some(text),
            Ok(_) => None,
            Err(error) => self.fail(&format!("reading the badge {id}: {error}")).await,
        }
    }

    /// Runs `script` in the page; what it returns.
    async fn script(&self, script: &str) -> serde_json::Value {
        match self.client.execute(script, Vec::new()).await {
            Ok(value) => value,
            Err(error) => self.fail(&format!("running {script:?}: {error}")).await,
        }
    }

    /// Waits until `script` returns `expected`.
    async fn wait_for_script(&self, script: &str, expected: serde_json::Value) {
        let deadline = Instant::now() + PAGE_TIMEOUT;
        loop {
            let value = self.script(script).await;
            if value == expected {
                return;
            }
            if Instant::now() >= deadline {
                self.fail(&format!(
                    "{script:?} returned {value}, not {expected}, within {PAGE_TIMEOUT:?}"
                ))
                .await;
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Opens a new tab in the same browser, shows `path` in it live (as [`Browser::open_live`])
    /// and leaves the browser on it; returns its handle.
    async fn open_tab(&self, path: &str, heading: &str) -> WindowHandle {
        let tab = match self.client.new_window(true).await {
            Ok(tab) => tab.handle,
            Err(error) => self.fail(&format!("opening a tab: {error}")).await,
        };
        self.switch_to(&tab).await;
        self.open_live(path, heading).await;
        tab
    }

    /// Makes the tab `tab` the one the browser's commands act on.
    async fn switch_to(&self, tab: &WindowHandle) {
        if let Err(error) = self.client.switch_to_window(tab.clone()).await {
            self.fail(&format!("switching to a tab: {error}")).await;
        }
    }

    /// The tab the browser's commands act on.
    async fn tab(&self) -> WindowHandle {
        match self.client.window().await {
            Ok(tab) => tab,
            Err(error) => self.fail(&format!("naming the tab: {error}")).await,
        }
    }

    /// The operator comes back to the page: the window is focused and the page reported
    /// visible, as when a background tab is brought to the front.
    async fn look_at_page(&self) {
        let script = "window.focus(); \
            document.dispatchEvent(new Event(\"visibilitychange\")); \
            window.dispatchEvent(new Event(\"focus\"));";
        if let Err(error) = self.client.execute(script, Vec::new()).await {
            self.fail(&format!("focusing the page: {error}")).await;
        }
        tokio::time::sleep(EVENT_GRACE).await;
    }

    /// Acknowledges the alarm `alarm` (a CSS selector) with `note`; waits until it shows so.
    async fn acknowledge(&self, alarm: &str, note: &str) -> String {
        self.fill(
            &format!("{alarm} form[action=\"/alarm/ack\"]"),
            "note",
            note,
        )
        .await;
        self.click(&format!("{alarm} form[action=\"/alarm/ack\"] button"))
            .await;
        let (acknowledged, _) = self
            .wait_for(
                &format!("{alarm} .answer"),
                &format!("acknowledged by {}", self.who),
                PAGE_TIMEOUT,
            )
            .await;
        acknowledged
    }

    /// Logs in through the login form; waits for the board.
    async fn log_in(&self, name: &str, password: &str) {
        self.goto("/login").await;
        self.fill("form[action=\"/login\"]", "name", name).await;
        self.fill("form[action=\"/login\"]", "password", password)
            .await;
        self.click("form[action=\"/login\"] button[type=\"submit\"]")
            .await;
        self.wait_for("main#main h1", "Board", PAGE_TIMEOUT).await;
        self.wait_for("header .operator", name, PAGE_TIMEOUT).await;
    }

    async fn close(self) {
        let who = self.who;
        if let Err(error) = self.client.close().await {
            eprintln!("{who}'s browser did not close cleanly: {error}");
        }
    }
}

/// Gives `station` a console on a free loopback port and an operator; returns the address.
fn console_with_operator(
    station: &StationProcess,
    root: &Path,
    operator: &str,
    password: &str,
) -> SocketAddr {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_tcp_port().expect("port"))
        .parse()
        .expect("address");
    station
        .configure(|config| {
            config.console = Some(parley_station::home::ConsoleConfig {
                listen: addr.to_string(),
                cert: None,
                key: None,
                session_idle_s: 600,
            });
        })
        .expect("configure the console");
    let file = root.join(format!("{operator}.password"));
    std::fs::write(&file, format!("{password}\n")).expect("write the password file");
    station
        .ok(&[
            "operator",
            "add",
            operator,
            "--password-file",
            file.to_str().expect("a UTF-8 path"),
            // The interface in English for both operators, so the test reads one language;
            // what peers send still shows in each station's own (Bravo's: Russian).
            "--lang",
            "en",
        ])
        .expect("operator add");
    addr
}

fn await_console(addr: SocketAddr) {
    let up = wait_until(SEEN_TIMEOUT, || TcpStream::connect(addr).is_ok());
    assert!(up, "the console listens on {addr}");
}

/// A time `hours` from now, RFC 3339, whole seconds.
fn hours_from_now(hours: i64) -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::hours(hours);
    let at = at.replace_nanosecond(0).expect("valid");
    at.format(&time::format_description::well_known::Rfc3339)
        .expect("formats")
}

fn send(station: &StationProcess, args: &[&str]) -> String {
    station.ok(args).expect("send").trim().to_owned()
}

/// The launch notice form.
const LAUNCH_NOTICE: &str = "#form-missile_launch";

/// The launch notice form filled in with `planned_launch`, not sent.
async fn fill_launch_notice(ana: &Browser, planned_launch: &str) {
    ana.fill(LAUNCH_NOTICE, "f_planned_launch", planned_launch)
        .await;
    ana.fill(LAUNCH_NOTICE, "f_missile_class", "icbm").await;
    ana.fill(LAUNCH_NOTICE, "f_launch_area", "62.9,40.5/30")
        .await;
    ana.fill(LAUNCH_NOTICE, "f_impact_area", "53.0,158.0/50")
        .await;
}

/// A script that returns what the browser says of the launch notice's `planned_launch`: its
/// validation message (the console's check sets it), `aria-invalid`, and the text beside it.
const PLANNED_LAUNCH_STATE: &str = "const field = document.querySelector(\
    '#form-missile_launch [name=\"f_planned_launch\"]'); \
    const note = document.getElementById(field.getAttribute('aria-describedby')); \
    return [field.validationMessage, field.getAttribute('aria-invalid'), note.textContent];";

/// Ana, on a page that answered a form `alpha` refused, sees a FLASH from `bravo` counted
/// without reload, the refusal still showing; the FLASH is then answered. Once for a message
/// composed with a language tag the station refuses, once for an answer to a message
/// answered already.
async fn refused_pages_stay_live(ana: &Browser, alpha: &StationProcess, bravo: &StationProcess) {
    let flash_in = async |page: &str, kept: &str| {
        ana.wait_for("body[data-events=\"open\"]", "", PAGE_TIMEOUT)
            .await;
        ana.mark().await;
        let flash = send(
            bravo,
            &["send", "Alpha", "--precedence", "flash", "Confirm receipt"],
        );
        ana.wait_for_title(&format!("● (1) Alpha · {page}")).await;
        assert_eq!(
            ana.badge("attention-inbox").await.as_deref(),
            Some("1 FLASH to answer"),
            "on the refused {page} page"
        );
        ana.assert_not_reloaded(&format!("a FLASH came in on the refused {page} page"))
            .await;
        ana.wait_for("main#main p.error", kept, PAGE_TIMEOUT).await;
        alpha.ok(&["understood", &flash]).expect("understood");
        ana.wait_for_title(&format!("Alpha · {page}")).await;
        flash
    };

    ana.open_live("/compose", "Compose").await;
    let text = "Our exercise ends at noon";
    ana.fill("form[action=\"/send\"]", "text", text).await;
    ana.fill("form[action=\"/send\"]", "translation_lang", "ru ru")
        .await;
    ana.fill("form[action=\"/send\"]", "translation_text", "Учения")
        .await;
    ana.click("form[action=\"/send\"] button[type=\"submit\"]")
        .await;
    let (refusal, _) = ana
        .wait_for("main#main p.error", "language", PAGE_TIMEOUT)
        .await;
    let answered = flash_in("Compose", &refusal).await;
    let kept = ana
        .script("return document.querySelector('form[action=\"/send\"] [name=\"text\"]').value")
        .await;
    assert_eq!(kept, text, "the refused form keeps what Ana typed");

    // An answer to the FLASH answered already, as from a page left open in another tab.
    ana.script(&format!(
        "const form = document.createElement('form'); form.method = 'post'; \
         form.action = '/understood'; \
         for (const [name, value] of [['csrf', document.querySelector('meta[name=csrf]').content], \
         ['id', '{answered}']]) {{ const input = document.createElement('input'); \
         input.type = 'hidden'; input.name = name; input.value = value; form.append(input); }} \
         document.body.append(form); form.submit(); return true;"
    ))
    .await;
    let (refusal, _) = ana
        .wait_for("main#main p.error", "already", PAGE_TIMEOUT)
        .await;
    ana.wait_for("main#main a[href=\"/inbox\"]", "", PAGE_TIMEOUT)
        .await;
    flash_in("Not done", &refusal).await;
}

/// Ana, having typed a message on the compose page and clicked away from it (the field no
/// longer has the focus), finds what she typed still there after a message from `bravo`
/// updated the page live.
async fn typed_text_survives_live_updates(
    ana: &Browser,
    alpha: &StationProcess,
    bravo: &StationProcess,
) {
    ana.open_live("/compose", "Compose").await;
    // Untouched, the page is brought up to date: its main section is a fresh one.
    ana.script("document.getElementById('main').dataset.probe = 'old'; return true;")
        .await;
    let first = send(
        bravo,
        &["send", "Alpha", "--precedence", "flash", "Anyone there?"],
    );
    ana.wait_for_title("● (1) Alpha · Compose").await;
    let swapped = ana
        .script("return document.getElementById('main').dataset.probe === undefined")
        .await;
    assert_eq!(swapped, true, "an untouched compose page is refreshed live");
    alpha.ok(&["understood", &first]).expect("understood");
    ana.wait_for_title("Alpha · Compose").await;
    let text = "Half-written: our units return to base at";
    ana.fill("form[action=\"/send\"]", "text", text).await;
    ana.script("document.activeElement.blur(); return true;")
        .await;
    let flash = send(
        bravo,
        &["send", "Alpha", "--precedence", "flash", "Are you there?"],
    );
    ana.wait_for_title("● (1) Alpha · Compose").await;
    ana.assert_not_reloaded("a FLASH came in on the compose page")
        .await;
    let kept = ana
        .script("return document.querySelector('form[action=\"/send\"] [name=\"text\"]').value")
        .await;
    assert_eq!(kept, text, "what Ana typed is kept through the live update");
    alpha.ok(&["understood", &flash]).expect("understood");
    ana.wait_for_title("Alpha · Compose").await;
}

/// How many event streams the console of `station` opened, from its daemon's logs.
fn streams_opened(station: &StationProcess) -> usize {
    let Ok(files) = std::fs::read_dir(&station.home) else {
        return 0;
    };
    files
        .filter_map(Result::ok)
        .filter(|file| {
            let name = file.file_name();
            let name = name.to_string_lossy();
            name.starts_with("daemon-") && name.ends_with(".log")
        })
        .map(|file| std::fs::read_to_string(file.path()).unwrap_or_default())
        .map(|log| log.matches("console: an event stream opened").count())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_work_the_console_in_a_real_browser() {
    if !browser_installed() {
        return;
    }
    let started = Instant::now();
    let scratch = Scratch(Some(tempfile::tempdir().expect("tempdir")));
    let root = scratch.path().to_owned();
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
    std::fs::create_dir_all(&screenshots).expect("create docs/screenshots");

    // Alpha (English, operator Ana) and Bravo (Russian, operator Boris), paired, running,
    // the example codebook agreed.
    let mut alpha = StationProcess::init(exe(), &root, "Alpha", "en").expect("init Alpha");
    let mut bravo = StationProcess::init(exe(), &root, "Bravo", "ru").expect("init Bravo");
    alpha.pin(&bravo, &root).expect("pin");
    bravo.pin(&alpha, &root).expect("pin");
    let alpha_console = console_with_operator(&alpha, &root, "Ana", ANA_PASSWORD);
    let bravo_console = console_with_operator(&bravo, &root, "Boris", BORIS_PASSWORD);
    alpha.start().expect("start Alpha");
    bravo.start().expect("start Bravo");
    await_console(alpha_console);
    await_console(bravo_console);
    agree_example_codebook(&alpha, &bravo);
    await_channel(&alpha, "Bravo", "direct", "up");

    let driver = Driver::start(&root);
    let ana = Browser::open(&driver, "Ana", alpha_console, &root).await;
    let boris = Browser::open(&driver, "Boris", bravo_console, &root).await;

    // 1. Ana logs in through the form; the board shows Bravo.
    ana.log_in("Ana", ANA_PASSWORD).await;
    ana.wait_for("section.peer h2", "Bravo", PAGE_TIMEOUT).await;
    ana.assert_title("Alpha · Board", "with nothing awaiting Ana")
        .await;
    ana.screenshot(&screenshots.join("board.png")).await;

    // 2. A FLASH from Bravo shows in Ana's open inbox without reload, with its countdown.
    ana.open_live("/inbox", "Inbox").await;
    let flash_text = "Unscheduled launch detected from our test range; hold fire";
    let flash = send(
        &bravo,
        &["send", "Alpha", "--precedence", "flash", flash_text],
    );
    let item = format!("#m-{flash}");
    ana.wait_for(&format!("{item} .text"), flash_text, PAGE_TIMEOUT)
        .await;
    ana.wait_for(&format!("{item} .precedence"), "FLASH", PAGE_TIMEOUT)
        .await;
    ana.wait_for(&format!("{item} .countdown"), "answer within", PAGE_TIMEOUT)
        .await;
    // The tab's title is marked with what awaits Ana, and the nav counts it.
    let marked_inbox = "● (1) Alpha · Inbox";
    ana.wait_for_title(marked_inbox).await;
    assert_eq!(
        ana.badge("attention-inbox").await.as_deref(),
        Some("1 FLASH to answer")
    );
    assert_eq!(ana.badge("attention-alarms").await, None);
    ana.assert_not_reloaded("the FLASH came in").await;
    ana.screenshot(&screenshots.join("inbox.png")).await;
    // Looking at the page does not clear the mark, nor does loading it again: only an
    // answer does.
    ana.look_at_page().await;
    ana.assert_title(marked_inbox, "once Ana looked at the page")
        .await;
    ana.open_live("/inbox", "Inbox").await;
    ana.assert_title(marked_inbox, "on the inbox loaded again")
        .await;
    ana.goto("/").await;
    ana.wait_for("main#main h1", "Board", PAGE_TIMEOUT).await;
    ana.assert_title("● (1) Alpha · Board", "on the board")
        .await;
    ana.goto("/inbox").await;

    // 3. Boris watches his outbox; Ana answers with a restatement; it shows there live.
    boris.log_in("Boris", BORIS_PASSWORD).await;
    boris.open_live("/outbox", "Outbox").await;
    boris
        .wait_for(&format!("{item} .text"), flash_text, PAGE_TIMEOUT)
        .await;
    let restatement = "Bravo saw a launch from its own test range and asks us to hold fire";
    ana.fill(
        &format!("{item} form[action=\"/understood\"]"),
        "text",
        restatement,
    )
    .await;
    ana.click(&format!("{item} form[action=\"/understood\"] button"))
        .await;
    ana.wait_for(
        &format!("{item} .answer"),
        "understood by Ana",
        PAGE_TIMEOUT,
    )
    .await;
    ana.wait_for_title("Alpha · Inbox").await;
    assert_eq!(
        ana.badge("attention-inbox").await,
        None,
        "the FLASH is answered"
    );
    // Ana is Alpha's, and shows as Alpha's: a peer's operator may bear a name of Bravo's own.
    let (answer, _) = boris
        .wait_for(
            &format!("{item} .answer"),
            "understood by \"Ana\" at Alpha",
            PAGE_TIMEOUT,
        )
        .await;
    assert!(
        answer.contains(restatement),
        "Boris's outbox shows {answer:?}"
    );
    boris.assert_not_reloaded("Ana's answer came in").await;
    boris
        .wait_for(
            &format!("{item} .timeline .done"),
            "understood",
            PAGE_TIMEOUT,
        )
        .await;

    // 3b. A second tab of Ana's browser updates live too, on the one event stream the
    // browser holds: opening it opens no stream of its own, and when the tab holding the
    // stream closes the other takes it over.
    ana.open_live("/inbox", "Inbox").await;
    let first = ana.tab().await;
    let opened = streams_opened(&alpha);
    assert!(opened > 0, "the console logs the streams it opens");
    let second = ana.open_tab("/outbox", "Outbox").await;
    assert_eq!(
        streams_opened(&alpha),
        opened,
        "the second tab is live on the first tab's stream"
    );
    let outgoing = "Second tab: our outbox shows this";
    let sent_out = send(&alpha, &["send", "Bravo", outgoing]);
    ana.wait_for(&format!("#m-{sent_out} .text"), outgoing, PAGE_TIMEOUT)
        .await;
    ana.assert_not_reloaded("a message was sent, in the second tab")
        .await;
    let incoming = "Second tab: our inbox shows this";
    let sent_in = send(&bravo, &["send", "Alpha", incoming]);
    ana.switch_to(&first).await;
    ana.wait_for(&format!("#m-{sent_in} .text"), incoming, PAGE_TIMEOUT)
        .await;
    ana.assert_not_reloaded("a message came in, in the first tab")
        .await;
    assert_eq!(streams_opened(&alpha), opened, "still one stream");
    if let Err(error) = ana.client.close_window().await {
        ana.fail(&format!("closing the first tab: {error}")).await;
    }
    ana.switch_to(&second).await;
    let handed_on = wait_until(SEEN_TIMEOUT, || streams_opened(&alpha) == opened + 1);
    assert!(
        handed_on,
        "the second tab opens the stream once the first closed: {} opened",
        streams_opened(&alpha)
    );
    let later = "Second tab: on its own stream now";
    let sent_later = send(&alpha, &["send", "Bravo", later]);
    ana.wait_for(&format!("#m-{sent_later} .text"), later, PAGE_TIMEOUT)
        .await;
    ana.assert_not_reloaded("the first tab closed").await;
    tokio::time::sleep(EVENT_GRACE).await;
    assert_eq!(streams_opened(&alpha), opened + 1, "one stream at a time");

    // 5. A launch notice composed in the console: too soon, the codebook's rule shows beside
    // the field as it is filled in, and the browser does not send it; fixed, the words go
    // and it is sent (48 h ahead), and shows in Boris's open inbox with its Russian title.
    boris.open_live("/inbox", "Inbox").await;
    ana.open_live("/compose", "Compose").await;
    fill_launch_notice(&ana, &hours_from_now(2)).await;
    let rule = "is less than 24 h after the notice is sent";
    let (beside, _) = ana
        .wait_for(&format!("{LAUNCH_NOTICE} .field-error"), rule, PAGE_TIMEOUT)
        .await;
    assert!(beside.contains("planned_launch"), "{beside:?}");
    let state = ana.script(PLANNED_LAUNCH_STATE).await;
    assert!(
        state[0]
            .as_str()
            .is_some_and(|message| message.contains(rule))
            && state[1] == "true"
            && state[2].as_str().is_some_and(|note| note.contains(rule)),
        "the field is invalid, with the check's words: {state}"
    );
    ana.screenshot(&root.join("compose-refused.png")).await;
    ana.click(&format!("{LAUNCH_NOTICE} button[type=\"submit\"]"))
        .await;
    tokio::time::sleep(EVENT_GRACE).await;
    ana.assert_not_reloaded("a notice the codebook refuses was submitted")
        .await;
    let notices = || {
        alpha.outbox().map_or(0, |outbox| {
            outbox
                .iter()
                .filter(|item| item["kind"] == "notice")
                .count()
        })
    };
    assert_eq!(notices(), 0, "the refused notice was not sent");
    ana.fill(LAUNCH_NOTICE, "f_planned_launch", &hours_from_now(48))
        .await;
    ana.wait_for_script(PLANNED_LAUNCH_STATE, json!(["", null, ""]))
        .await;
    ana.click(&format!("{LAUNCH_NOTICE} button[type=\"submit\"]"))
        .await;
    let (sent, _) = ana.wait_for("main#main p.ok", "Sent", PAGE_TIMEOUT).await;
    let notice = sent
        .split_whitespace()
        .nth(1)
        .expect("Sent: ID to PEER")
        .to_owned();
    // An event on the page that answered the form leaves it as it is: the page once
    // reloaded itself there, which posted the form again and sent the notice twice.
    ana.wait_for("body[data-events=\"open\"]", "", PAGE_TIMEOUT)
        .await;
    ana.mark().await;
    let reply = send(&bravo, &["send", "Alpha", "Your notice is being read"]);
    let stored = wait_until(SEEN_TIMEOUT, || {
        alpha
            .inbox()
            .is_ok_and(|inbox| inbox.iter().any(|item| item["id"] == reply.as_str()))
    });
    assert!(stored, "Alpha never stored {reply}");
    tokio::time::sleep(EVENT_GRACE).await;
    ana.assert_not_reloaded("an event came to the page that answered the form")
        .await;
    ana.wait_for("main#main p.ok", &notice, PAGE_TIMEOUT).await;
    assert_eq!(notices(), 1, "the notice was sent once");
    boris
        .wait_for(
            &format!("#m-{notice} .text"),
            "Уведомление о планируемом пуске баллистической ракеты",
            PAGE_TIMEOUT,
        )
        .await;
    boris.screenshot(&root.join("boris-inbox-notice.png")).await;

    // 5b. Pages that answer a form the station refused stay live: a FLASH that comes in
    // while they show still marks the title, counts in the nav and sounds, and the refusal
    // and the form as Ana filled it stay. (Their URLs take only the form: the page once
    // fetched itself there, was refused, and showed nothing new until Ana left it.)
    refused_pages_stay_live(&ana, &alpha, &bravo).await;
    typed_text_survives_live_updates(&ana, &alpha, &bravo).await;

    // 6. A coded message shows in Boris's inbox in Russian.
    let coded = send(&alpha, &["send", "Bravo", "--code", "3"]);
    boris
        .wait_for(
            &format!("#m-{coded} .text"),
            "Проводится расследование инцидента",
            PAGE_TIMEOUT,
        )
        .await;
    boris
        .assert_not_reloaded("the notice and the coded message came in")
        .await;
    boris.screenshot(&root.join("boris-inbox.png")).await;

    // 4. An alarm. Alpha restarts with a 4 s FLASH objective (which would also have run out
    // the countdown of step 2 before it could be seen), which logs Ana out. A FLASH to Bravo
    // goes unanswered; Ana, back in, acknowledges the alarm with a note.
    alpha.stop().expect("stop Alpha");
    alpha
        .configure(|config| {
            config.objectives.flash.receipt_s = 2;
            config.objectives.flash.understood_s = 4;
        })
        .expect("configure short objectives");
    alpha.start().expect("restart Alpha");
    await_console(alpha_console);
    ana.goto("/alarms").await;
    ana.wait_for("form[action=\"/login\"]", "", PAGE_TIMEOUT)
        .await;
    ana.log_in("Ana", ANA_PASSWORD).await;
    ana.open_live("/alarms", "Alarms").await;
    let unanswered = send(
        &alpha,
        &[
            "send",
            "Bravo",
            "--precedence",
            "flash",
            "Confirm you see our notice",
        ],
    );
    let (_, alarm_id) = ana
        .wait_for("main#main article.alarm", &unanswered, ALARM_TIMEOUT)
        .await;
    ana.assert_not_reloaded("the alarm was raised").await;
    assert!(
        alarm_id.starts_with("a-"),
        "an alarm's element id: {alarm_id:?}"
    );
    let alarm = format!("#{alarm_id}");
    // The title and the nav say an alarm awaits Ana, after she looks and reloads too.
    let open = ana
        .client
        .find_all(Locator::Css("main#main article.alarm.open"))
        .await
        .map_or(0, |open| open.len());
    let marked_alarms = format!("● ({open}) Alpha · Alarms");
    ana.wait_for_title(&marked_alarms).await;
    assert_eq!(
        ana.badge("attention-alarms").await,
        Some(format!("{open} to acknowledge"))
    );
    ana.look_at_page().await;
    ana.assert_title(&marked_alarms, "once Ana looked at the alarm")
        .await;
    ana.open_live("/alarms", "Alarms").await;
    ana.assert_title(&marked_alarms, "on the alarms loaded again")
        .await;
    let note = "Called Bravo's duty officer by phone; they are reading it";
    let acknowledged = ana.acknowledge(&alarm, note).await;
    assert!(acknowledged.contains(note), "{acknowledged:?}");
    ana.screenshot(&root.join("alarms.png")).await;
    // Any other alarm open (the count covers every one) is acknowledged too; then nothing
    // awaits Ana and the title is plain again.
    while let Ok(other) = ana
        .client
        .find(Locator::Css("main#main article.alarm.open"))
        .await
    {
        let id = other.attr("id").await.ok().flatten().unwrap_or_default();
        ana.acknowledge(&format!("#{id}"), "Seen").await;
    }
    ana.wait_for_title("Alpha · Alarms").await;
    assert_eq!(ana.badge("attention-alarms").await, None);

    // 7. Log out: the login form again, and the pages are closed to this browser.
    ana.click("form[action=\"/logout\"] button").await;
    ana.wait_for("form[action=\"/login\"] button", "Log in", PAGE_TIMEOUT)
        .await;
    ana.goto("/inbox").await;
    ana.wait_for("form[action=\"/login\"] button", "Log in", PAGE_TIMEOUT)
        .await;

    ana.close().await;
    boris.close().await;
    drop(driver);
    eprintln!("browser test took {:.1} s", started.elapsed().as_secs_f64());
}
