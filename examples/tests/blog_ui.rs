//! The audit page in a real browser: the example blog serves it, headless Chromium loads it
//! through WebDriver (`chromedriver`), and the tests read and click what a person would.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Runs when `AUDIT_TEST_BROWSER` is set
//! (CI sets it, and `.ci/run` installs the packages); without it, outside CI, each test
//! says loudly that it was skipped. `AUDIT_UPDATE_SCREENSHOTS=1` rewrites the README's
//! screenshots under `docs/`.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset, Utc};
use common::{Blog, call, serve};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The browser's time zone: +05:30 all year, so the expected local times are exact.
const TZ: &str = "Asia/Kolkata";
const ENTER: &str = "\u{E007}";
const ESCAPE: &str = "\u{E00C}";

/// chromedriver, in a process group of its own with the Chromium it starts, and the
/// browser's profile directory: dropping it ends them all and removes the directory, even
/// when the test panicked before closing its session.
struct Driver {
    child: Child,
    profile: std::path::PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: killing chromedriver alone would leave Chromium running.
        // Through the system call: Debian 12's `kill` (procps-ng 4.0.2) reads `-<group>`
        // by its first digit, so `kill -KILL -13918` is `kill(-1, SIGKILL)`: every process.
        if let Ok(group) = i32::try_from(self.child.id()) {
            let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

struct Browser {
    client: Client,
    _driver: Driver,
    /// This test's turn (see [`ONE_AT_A_TIME`]), given up after the browser has gone.
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// One browser at a time: each test starts a Chromium of its own, a tree of processes,
/// and several at once on a small CI machine only compete for it.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A headless Chromium session, or `None` (said loudly) when browser tests are off.
async fn browser(test: &str) -> Option<Browser> {
    if !std::env::var("AUDIT_TEST_BROWSER").is_ok_and(|v| v == "1") {
        // (`.ci/run` sets it, and fails when a browser test says SKIPPED.)
        // Straight to stderr: the harness captures `eprintln!` of a passing test.
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED {test}: browser tests are off. Set AUDIT_TEST_BROWSER=1 (needs the \
             Debian packages chromium and chromium-driver). ***\n"
        );
        return None;
    }
    let turn = ONE_AT_A_TIME.lock().await;
    let program =
        std::env::var("AUDIT_TEST_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".to_owned());
    let port = free_port();
    // Everything the browser writes (profile, temporary files) goes under one directory.
    let profile = std::env::temp_dir().join(format!("audit-ui-test-{}-{port}", std::process::id()));
    std::fs::create_dir_all(profile.join("tmp")).unwrap();
    let child = Command::new(&program)
        .arg(format!("--port={port}"))
        .process_group(0)
        .env("TZ", TZ)
        .env("TMPDIR", profile.join("tmp"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("AUDIT_TEST_BROWSER is set but `{program}` did not start ({e}): install chromium-driver")
        });
    let driver = Driver { child, profile };
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not listen on {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut options = json!({
        // No connections of the browser's own (updates, sync, QUIC probes, field trials):
        // the tests need only localhost, and a closed network refuses them all.
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-extensions",
                 "--disable-default-apps", "--no-default-browser-check",
                 "--lang=en-US", "--window-size=1280,900",
                 format!("--user-data-dir={}", driver.profile.join("profile").display())],
    });
    if let Ok(binary) = std::env::var("AUDIT_TEST_CHROMIUM") {
        options["binary"] = json!(binary);
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    let client = ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap_or_else(|e| panic!("no Chromium session through chromedriver: {e}"));
    Some(Browser {
        client,
        _driver: driver,
        _turn: turn,
    })
}

impl Browser {
    async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap()
    }

    /// Waits until `script` returns something truthy; panics with `what` and the page's
    /// text when it does not within 15 s.
    async fn wait(&self, what: &str, script: &str) {
        let started = Instant::now();
        loop {
            let v = self.js(script, vec![]).await;
            if !matches!(v, Value::Null | Value::Bool(false)) {
                return;
            }
            if started.elapsed() > Duration::from_secs(15) {
                let text = self.js("return document.body.innerText", vec![]).await;
                panic!("timed out waiting for {what}; the page says:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn count(&self, css: &str) -> usize {
        self.js(
            "return document.querySelectorAll(arguments[0]).length",
            vec![json!(css)],
        )
        .await
        .as_u64()
        .unwrap() as usize
    }

    async fn wait_count(&self, css: &str, n: usize) {
        let script = format!(
            "return document.querySelectorAll({}).length === {n}",
            json!(css)
        );
        self.wait(&format!("{n} × `{css}`"), &script).await;
    }

    /// The trimmed text of each element `css` matches, in document order.
    async fn texts(&self, css: &str) -> Vec<String> {
        let v = self
            .js(
                "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent.trim())",
                vec![json!(css)],
            )
            .await;
        serde_json::from_value(v).unwrap()
    }

    async fn text(&self, css: &str) -> String {
        let texts = self.texts(css).await;
        assert_eq!(texts.len(), 1, "one `{css}`, found {texts:?}");
        texts.into_iter().next().unwrap()
    }

    async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
            .click()
            .await
            .unwrap();
    }

    async fn type_into(&self, css: &str, keys: &str) {
        let element = self.client.find(Locator::Css(css)).await.unwrap();
        element.click().await.unwrap();
        element.send_keys(keys).await.unwrap();
    }

    /// The page from its top, `height` pixels tall, into `docs/name` (with
    /// `AUDIT_UPDATE_SCREENSHOTS` set).
    async fn screenshot(&self, name: &str, height: u32) {
        if std::env::var_os("AUDIT_UPDATE_SCREENSHOTS").is_none() {
            return;
        }
        self.client.set_window_size(1280, height).await.unwrap();
        self.js(
            "window.scrollTo(0, 0); document.activeElement.blur()",
            vec![],
        )
        .await;
        let png = self.client.screenshot().await.unwrap();
        self.client.set_window_size(1280, 900).await.unwrap();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../docs")
            .join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, png).unwrap();
        let _ = writeln!(std::io::stderr(), "wrote {}", path.display());
    }

    /// Signs the browser in as `user` (the demo's cookie) and waits for the page.
    async fn sign_in(&self, blog: &Blog, user: &str) {
        self.goto(&format!("{}/demo/sign-in/{user}", blog.base))
            .await;
        self.wait(
            "the page",
            "return document.body.dataset.ready !== undefined",
        )
        .await;
    }
}

/// Alice signs up and writes a post, edits its title, Bob comments, Alice publishes: five
/// entries, three of them on post 1.
async fn seed(blog: &Blog) {
    let steps = [
        (
            "alice",
            "POST",
            "/authors",
            json!({"name": "Alice", "password": "pw"}),
        ),
        (
            "alice",
            "POST",
            "/posts",
            json!({"author_id": 1, "title": "Hello", "body": "First draft"}),
        ),
        (
            "alice",
            "PATCH",
            "/posts/1",
            json!({"title": "Hello, world"}),
        ),
        (
            "bob",
            "POST",
            "/posts/1/comments",
            json!({"author": "bob", "body": "Nice"}),
        ),
        ("alice", "PATCH", "/posts/1", json!({"published": true})),
    ];
    for (user, method, path, body) in steps {
        let (status, answer) = call(blog, Some(user), method, path, Some(body)).await;
        assert!(status.is_success(), "{method} {path}: {status} {answer}");
    }
}

/// A browser and the blog with [`seed`]'s entries, or `None` when browser tests are off.
async fn session(test: &str) -> Option<(Browser, Blog)> {
    let b = browser(test).await?;
    let blog = serve().await;
    seed(&blog).await;
    Some((b, blog))
}

/// Post 1's versions, as the admin reads them through the API.
async fn post_versions(blog: &Blog) -> Vec<Value> {
    let (status, page) = call(
        blog,
        Some("admin"),
        "GET",
        "/api/audit/versions/post/1",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["items"].as_array().unwrap().clone()
}

/// How the browser shows `iso` in its time zone (`toLocaleString()`, en-US).
fn local_text(iso: &str) -> String {
    let t: DateTime<Utc> = iso.parse().unwrap();
    let ist = FixedOffset::east_opt(5 * 3600 + 30 * 60).unwrap();
    t.with_timezone(&ist)
        .format("%-m/%-d/%Y, %-I:%M:%S %p")
        .to_string()
}

fn spaces(s: &str) -> String {
    s.replace(['\u{202f}', '\u{a0}'], " ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_reads_filters_opens_a_record_and_restores() {
    let Some((b, blog)) = session("admin_reads_filters_opens_a_record_and_restores").await else {
        return;
    };
    b.sign_in(&blog, "admin").await;

    // The timeline: every entry, newest first, the dashboard's counts.
    b.wait_count("#entries li.entry", 5).await;
    assert_eq!(b.text("#caller").await, "You may: read, restore, revert");
    assert_eq!(
        b.texts("#entries .action").await,
        ["updated", "created", "updated", "created", "created"]
    );
    assert_eq!(b.text(".dashboard .total strong").await, "5");
    // Counts that fail leave the window's selector, focused, to ask again.
    b.js(
        "window.__fetch = window.fetch; \
         window.fetch = (u, o) => String(u).includes('/dashboard') \
           ? Promise.resolve(new Response('{}', { status: 503 })) : window.__fetch(u, o); \
         const s = document.getElementById('window'); s.value = '168'; \
         s.dispatchEvent(new Event('change')); return null",
        vec![],
    )
    .await;
    b.wait(
        "the counts' error",
        "return !!document.querySelector('.dashboard .error')",
    )
    .await;
    assert_eq!(b.count(".dashboard #window").await, 1);
    assert_eq!(
        b.js("return document.activeElement.id", vec![]).await,
        json!("window")
    );
    b.js(
        "window.fetch = window.__fetch; const s = document.getElementById('window'); \
         s.value = '24'; s.dispatchEvent(new Event('change')); return null",
        vec![],
    )
    .await;
    b.wait(
        "the counts again",
        "return !!document.querySelector('.dashboard .total strong')",
    )
    .await;
    assert_eq!(b.text(".dashboard .total strong").await, "5");
    // Two windows picked in quick succession, the first answered first: the last one's
    // counts are drawn.
    b.js(
        "window.__fetch = window.fetch; window.__slow = false; \
         window.fetch = (u, o) => String(u).includes('window_hours=720') \
           ? new Promise((r) => setTimeout(() => { window.__slow = true; \
               r(window.__fetch(u, o)); }, 800)) \
           : window.__fetch(u, o); \
         const s = document.getElementById('window'); \
         s.value = '168'; s.dispatchEvent(new Event('change')); \
         s.value = '720'; s.dispatchEvent(new Event('change')); return null",
        vec![],
    )
    .await;
    b.wait(
        "the slower answer",
        "return window.__slow && !!document.querySelector('.dashboard .total strong') && \
         document.getElementById('window').value === '720'",
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        b.js("return document.getElementById('window').value", vec![])
            .await,
        json!("720")
    );
    b.js("window.fetch = window.__fetch; return null", vec![])
        .await;
    // Times in the browser's zone, UTC on hover.
    let (_, api) = call(&blog, Some("admin"), "GET", "/api/audit/activity", None).await;
    let newest = api["items"][0]["created_at"].as_str().unwrap().to_owned();
    let time = b
        .js(
            "const t = document.querySelector('#entries li.entry time'); \
             return [t.getAttribute('datetime'), t.title, t.textContent]",
            vec![],
        )
        .await;
    assert_eq!(time[0], json!(newest));
    let utc: DateTime<Utc> = newest.parse().unwrap();
    assert_eq!(
        time[1],
        json!(format!("UTC: {}", utc.format("%Y-%m-%dT%H:%M:%S%.3fZ")))
    );
    assert_eq!(spaces(time[2].as_str().unwrap()), local_text(&newest));
    b.screenshot("ui-timeline.png", 1000).await;

    // Filter by causer, from the keyboard: Bob's comment only.
    b.type_into("#f-causer_id", &format!("bob{ENTER}")).await;
    b.wait(
        "the causer filter",
        "return location.hash.includes('causer_id=bob') && \
         document.querySelectorAll('#entries li.entry').length === 1",
    )
    .await;
    assert_eq!(b.texts("#entries .causer").await, ["by bob"]);
    assert_eq!(b.texts("#entries a.subject").await, ["comment #1"]);
    // A time in the address is shown to the second, and kept as it is when another
    // filter is applied.
    // (Also at a whole second, which the browser shows without its `:00`.)
    for since in ["2020-06-01T10:00:30.250Z", "2020-06-01T10:00:00.250Z"] {
        let address = format!("/?since={}", since.replace(':', "%3A"));
        b.js(
            "location.hash = '#' + arguments[0]; return null",
            vec![json!(address)],
        )
        .await;
        b.wait(
            "the since filter",
            &format!(
                "return document.body.dataset.ready === '{address}' && \
                 document.getElementById('f-since').value !== ''"
            ),
        )
        .await;
        // (shown to the second, in the browser's zone)
        assert_eq!(
            b.js(
                "return new Date(document.getElementById('f-since').value).toISOString()",
                vec![]
            )
            .await,
            json!(since.replace(".250", ".000"))
        );
        b.type_into("#f-action", &format!("created{ENTER}")).await;
        b.wait(
            "the action filter",
            "return location.hash.includes('action=created')",
        )
        .await;
        assert_eq!(
            b.js(
                "return new URLSearchParams(location.hash.slice(3)).get('since')",
                vec![]
            )
            .await,
            json!(since)
        );
    }

    // Open post 1 from the timeline: its history, oldest first, field by field.
    b.click("#clear").await;
    b.wait_count("#entries li.entry", 5).await;
    // Already at `#/`, Clear still empties what was typed and not applied.
    b.type_into("#f-causer_id", "nobody yet").await;
    b.click("#clear").await;
    assert_eq!(
        b.js(
            "return document.getElementById('f-causer_id').value",
            vec![]
        )
        .await,
        json!("")
    );
    b.click("#entries a.subject[href='#/subject/post/1']").await;
    b.wait_count("#history li.entry", 3).await;
    b.wait_count("#versions tbody tr", 3).await;
    assert_eq!(b.text("h1").await, "post #1");
    // The skip link moves the focus to the content, and the record stays drawn.
    b.js("document.querySelector('a.skip').click()", vec![])
        .await;
    b.wait(
        "the focus on the content",
        "return document.activeElement && document.activeElement.id === 'main'",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.text("h1").await, "post #1");
    // Opened at that address (reloaded), the page draws the timeline.
    b.js(
        "delete document.body.dataset.ready; location.reload()",
        vec![],
    )
    .await;
    b.wait(
        "the timeline after a reload",
        "return document.body.dataset.ready === '/' && \
         document.querySelector('h1').textContent === 'Activity'",
    )
    .await;
    // The timeline asked for and, while it loads, the record again: the record stays.
    b.js(
        "delete document.body.dataset.ready; location.hash = '#/'; \
         setTimeout(() => { location.hash = '#/subject/post/1'; }, 0)",
        vec![],
    )
    .await;
    b.wait(
        "the record again",
        "return document.body.dataset.ready === '/subject/post/1'",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.text("h1").await, "post #1");
    b.wait_count("#history li.entry", 3).await;
    b.wait_count("#versions tbody tr", 3).await;
    assert_eq!(
        b.texts("#history .action").await,
        ["created", "updated", "updated"]
    );
    let created = "#history li.entry:nth-child(1)";
    assert_eq!(
        b.text(&format!("{created} tr[data-field=title] td.old"))
            .await,
        "—"
    );
    assert_eq!(
        b.text(&format!("{created} tr[data-field=title] ins")).await,
        "\"Hello\"",
        "a string in quotes, as JSON"
    );
    let edited = "#history li.entry:nth-child(2)";
    assert_eq!(
        b.text(&format!("{edited} tr[data-field=title] del")).await,
        "\"Hello\""
    );
    assert_eq!(
        b.text(&format!("{edited} tr[data-field=title] ins")).await,
        "\"Hello, world\""
    );
    assert_eq!(b.count(&format!("{edited} tr[data-field]")).await, 1);
    let published = "#history li.entry:nth-child(3) tr[data-field=published]";
    assert_eq!(b.text(&format!("{published} del")).await, "false");
    assert_eq!(b.text(&format!("{published} ins")).await, "true");
    // The skipped view counter is nowhere.
    assert_eq!(b.count("tr[data-field=view_count]").await, 0);

    // Versions side by side: the last two by default, then 1 and 3.
    assert_eq!(b.text("#side-by-side h3").await, "Version 2 and version 3");
    assert_eq!(
        b.texts("#side-by-side tr.differs th .field").await,
        ["published"]
    );
    // Said in words, not by colour alone.
    assert_eq!(
        b.texts("#side-by-side tr.differs th .visually-hidden")
            .await,
        ["(differs)"]
    );
    assert_eq!(
        b.count("#side-by-side tr:not(.differs) .differs-mark")
            .await,
        0
    );
    b.click("input[name=a][value='1']").await;
    b.click("#compare").await;
    b.wait(
        "versions 1 and 3",
        "return document.querySelector('#side-by-side h3').textContent === 'Version 1 and version 3'",
    )
    .await;
    assert_eq!(
        b.texts("#side-by-side tr.differs th .field").await,
        ["published", "title"]
    );
    assert_eq!(
        b.texts("#side-by-side tr[data-field=title] td").await,
        ["\"Hello\"", "\"Hello, world\""]
    );
    b.screenshot("ui-record.png", 1500).await;

    let versions_before = post_versions(&blog).await;
    // From the keyboard: Enter on a restore button opens the dialog, Escape closes it and
    // nothing is restored.
    b.client
        .find(Locator::Css(
            "#versions tr[data-version='2'] button.restore",
        ))
        .await
        .unwrap()
        .send_keys(ENTER)
        .await
        .unwrap();
    b.wait(
        "the dialog",
        "return document.getElementById('restore-dialog').open",
    )
    .await;
    b.client
        .active_element()
        .await
        .unwrap()
        .send_keys(ESCAPE)
        .await
        .unwrap();
    b.wait(
        "the dialog to close",
        "return !document.getElementById('restore-dialog').open",
    )
    .await;
    assert_eq!(b.count("#history li.entry").await, 3);

    // Restore version 1: a reason is asked, the result shown, the new entry appears.
    b.click("#versions tr[data-version='1'] button.restore")
        .await;
    b.wait(
        "the restore dialog, its reason focused",
        "return document.getElementById('restore-dialog').open && \
         document.activeElement.id === 'restore-reason'",
    )
    .await;
    b.type_into("#restore-reason", "Wrong title").await;
    // Once sent, the restore cannot be cancelled (it would happen unseen): held back a
    // moment here, Escape leaves the dialog open and its Cancel button is off.
    b.js(
        "window.__fetch = window.fetch; \
         window.fetch = (u, o) => o && o.method === 'POST' \
           ? new Promise((r) => setTimeout(() => r(window.__fetch(u, o)), 1500)) \
           : window.__fetch(u, o); return null",
        vec![],
    )
    .await;
    b.click("#restore-confirm").await;
    assert_eq!(
        b.js(
            "return document.getElementById('restore-cancel').disabled",
            vec![]
        )
        .await,
        json!(true)
    );
    // (A key pressed wherever the focus is: the confirm button, which took it, is off.)
    {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let escape = ESCAPE.chars().next().unwrap();
        let press = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: escape })
            .then(KeyAction::Up { value: escape });
        b.client.perform_actions(press).await.unwrap();
    }
    assert_eq!(
        b.js(
            "return document.getElementById('restore-dialog').open",
            vec![]
        )
        .await,
        json!(true)
    );
    // Closed anyway (a browser lets a second Escape through), it comes back to show the
    // answer.
    b.js(
        "document.getElementById('restore-dialog').close(); return null",
        vec![],
    )
    .await;
    b.wait(
        "the restore dialog back while the restore is out",
        "return document.getElementById('restore-dialog').open",
    )
    .await;
    b.wait_count("#history li.entry", 4).await;
    b.js("window.fetch = window.__fetch; return null", vec![])
        .await;
    assert_eq!(
        b.js(
            "return document.getElementById('restore-cancel').disabled",
            vec![]
        )
        .await,
        json!(false)
    );
    assert_eq!(
        b.text("#record-status .notice").await,
        "Restored version 1 of post #1."
    );
    // The focus moves to the notice (the button it came from was redrawn).
    b.wait(
        "the focus on the notice",
        "return document.activeElement && document.activeElement.id === 'record-status'",
    )
    .await;
    // The new entry under the notice too (on a long history it is pages away).
    b.wait_count("#record-status li.entry", 1).await;
    assert_eq!(b.text("#record-status li.entry .action").await, "restored");
    assert_eq!(b.text("#record-status li.entry .causer").await, "by admin");
    let restored = "#history li.entry:nth-child(4)";
    assert_eq!(b.text(&format!("{restored} .action")).await, "restored");
    assert_eq!(b.text(&format!("{restored} .causer")).await, "by admin");
    assert_eq!(
        b.texts(&format!("{restored} .property")).await,
        [
            "reason: \"Wrong title\"".to_owned(),
            "restored_version: 1".to_owned(),
            format!("restored_version_id: {}", versions_before[0]["id"]),
        ]
    );
    assert_eq!(
        b.text(&format!("{restored} tr[data-field=title] del"))
            .await,
        "\"Hello, world\""
    );
    assert_eq!(
        b.text(&format!("{restored} tr[data-field=title] ins"))
            .await,
        "\"Hello\""
    );
    b.wait_count("#versions tbody tr", 4).await;
    assert_eq!(post_versions(&blog).await[3]["data"]["title"], "Hello");

    // A restore that fails shows the API's error in the dialog, which stays open.
    let gone = versions_before[1]["id"].as_i64().unwrap();
    sea_orm::ConnectionTrait::execute_unprepared(
        &blog.connect().await,
        &format!("DELETE FROM versions WHERE id = {gone}"),
    )
    .await
    .unwrap();
    b.click("#versions tr[data-version='2'] button.restore")
        .await;
    b.type_into("#restore-reason", "Again").await;
    b.click("#restore-confirm").await;
    b.wait(
        "the error in the dialog",
        "return document.querySelector('#restore-result .error') !== null",
    )
    .await;
    assert_eq!(
        b.text("#restore-result .error").await,
        format!("version {gone} not found (404)")
    );
    assert_eq!(b.count("#restore-dialog[open]").await, 1);
    b.click("#restore-cancel").await;
    b.wait(
        "the dialog to close",
        "return !document.getElementById('restore-dialog').open",
    )
    .await;
    assert_eq!(b.count("#history li.entry").await, 4);

    // A restore confirmed after the page moved on (Back under the open dialog) happens,
    // and leaves the page where it went.
    b.click("#versions tr[data-version='3'] button.restore")
        .await;
    b.js("location.hash = '#/'; return null", vec![]).await;
    b.wait(
        "the timeline under the dialog",
        "return document.body.dataset.ready === '/' && \
         document.getElementById('entries') !== null",
    )
    .await;
    b.type_into("#restore-reason", "Elsewhere").await;
    b.click("#restore-confirm").await;
    b.wait(
        "the dialog to close",
        "return !document.getElementById('restore-dialog').open",
    )
    .await;
    let versions = post_versions(&blog).await;
    let last = versions.last().unwrap();
    assert_eq!(
        (&last["version"], &last["data"]["title"]),
        (&json!(5), &json!("Hello, world"))
    );
    assert_eq!(
        b.js(
            "return [location.hash, document.getElementById('entries') !== null, \
             document.getElementById('history') === null]",
            vec![]
        )
        .await,
        json!(["#/", true, true])
    );

    // A redacted field: its change shown as such, its value nowhere.
    b.goto(&format!("{}/api/audit/ui#/subject/author/1", blog.base))
        .await;
    b.wait_count("#history li.entry", 1).await;
    assert_eq!(
        b.text("#history tr[data-field=password_hash] td").await,
        "changed (value redacted)"
    );
    let page = b.js("return document.body.innerText", vec![]).await;
    assert!(!page.as_str().unwrap().contains("demo-hash"), "{page}");
    b.client.clone().close().await.unwrap();
}

/// A page elsewhere (another origin) that tries to restore a version with the visitor's
/// cookies: a form post, which cannot send JSON, and a cross-origin `fetch`.
async fn serve_forger(target: String) -> String {
    let page = format!(
        "<!doctype html><title>Win a prize</title>\
         <form id=forged method=post enctype=text/plain action='{target}'>\
         <input name='{{\"reason\":\"x\",\"pad\":\"' value='\"}}'>\
         <button id=go>Claim</button></form>"
    );
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = page.clone();
            async move { axum::response::Html(page) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authors_see_no_restore_and_forged_restores_are_refused() {
    let Some((b, blog)) = session("authors_see_no_restore_and_forged_restores_are_refused").await
    else {
        return;
    };

    // An author reads posts and comments, not authors, and restores nothing.
    b.sign_in(&blog, "alice").await;
    b.wait_count("#entries li.entry", 4).await;
    assert_eq!(b.text("#caller").await, "You may: read");
    assert!(
        !b.texts("#entries a.subject")
            .await
            .iter()
            .any(|s| s.starts_with("author"))
    );
    b.goto(&format!("{}/api/audit/ui#/subject/post/1", blog.base))
        .await;
    b.wait_count("#versions tbody tr", 3).await;
    b.wait_count("#history li.entry", 3).await;
    assert_eq!(b.count("button.restore").await, 0);
    assert_eq!(b.count("#restore-dialog[open]").await, 0);
    b.goto(&format!("{}/api/audit/ui#/subject/author/1", blog.base))
        .await;
    b.wait(
        "the refusal",
        "return document.querySelector('p.error') !== null",
    )
    .await;
    assert!(
        b.texts("p.error")
            .await
            .contains(&"not allowed to read the audit trail of `author` (403)".to_owned()),
        "{:?}",
        b.texts("p.error").await
    );
    // A link of dot segments cannot send the page's requests out of the API's paths.
    b.goto(&format!("{}/api/audit/ui#/subject/../..", blog.base))
        .await;
    b.wait(
        "the dot segments refused",
        "return [...document.querySelectorAll('p.error')].some(p => p.textContent.includes('cannot be opened by its path'))",
    )
    .await;
    // A malformed escape in the address is an error on the page, not a page stuck loading.
    b.goto(&format!("{}/api/audit/ui#/subject/%E0/1", blog.base))
        .await;
    b.wait(
        "the malformed address refused",
        "return [...document.querySelectorAll('p.error')].some(p => p.textContent.includes('URI'))",
    )
    .await;
    // Without the button, a hand-made request from the page is refused too.
    let version_id = post_versions(&blog).await[0]["id"].as_i64().unwrap();
    let restore_url = format!("{}/api/audit/versions/{version_id}/restore", blog.base);
    let status = b
        .client
        .execute_async(
            "const [url, done] = arguments; fetch(url, {method: 'POST', \
             headers: {'Content-Type': 'application/json'}, body: '{}'}).then(r => done(r.status))",
            vec![json!(restore_url)],
        )
        .await
        .unwrap();
    assert_eq!(status, json!(403));

    // The admin, signed in, visits another site that tries to restore with their cookie.
    b.sign_in(&blog, "admin").await;
    let forger = serve_forger(restore_url.clone()).await;
    b.goto(&forger).await;
    let blocked = b
        .client
        .execute_async(
            "const [url, done] = arguments; fetch(url, {method: 'POST', credentials: 'include', \
             headers: {'Content-Type': 'application/json'}, body: '{}'}) \
             .then(r => done('sent: ' + r.status), e => done('blocked: ' + e.name))",
            vec![json!(restore_url)],
        )
        .await
        .unwrap();
    assert_eq!(blocked, json!("blocked: TypeError"));
    b.click("#go").await;
    b.wait(
        "the API's answer to the form",
        "return document.body.innerText.includes('unsupported_media_type')",
    )
    .await;
    let versions = post_versions(&blog).await;
    assert_eq!(
        versions.len(),
        3,
        "a forged request restored something: {versions:?}"
    );
    b.client.clone().close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeline_and_history_page_as_they_scroll() {
    let Some((b, blog)) = session("timeline_and_history_page_as_they_scroll").await else {
        return;
    };
    for i in 0..55 {
        let body = json!({"body": format!("edit {i}")});
        let (status, _) = call(&blog, Some("alice"), "PATCH", "/posts/1", Some(body)).await;
        assert!(status.is_success());
    }
    b.sign_in(&blog, "admin").await;
    // A page of 50, then the rest once the end of the list scrolls into view.
    b.wait_count("#entries li.entry", 50).await;
    b.js(
        "document.querySelector('button.more').scrollIntoView()",
        vec![],
    )
    .await;
    b.wait_count("#entries li.entry", 60).await;
    b.wait(
        "the end of the trail",
        "return document.querySelector('button.more').hidden",
    )
    .await;
    let ids = b
        .js(
            "return [...document.querySelectorAll('#entries li.entry')].map(e => Number(e.dataset.entryId))",
            vec![],
        )
        .await;
    let ids: Vec<i64> = serde_json::from_value(ids).unwrap();
    assert!(
        ids.windows(2).all(|w| w[0] > w[1]),
        "newest first, no repeats: {ids:?}"
    );
    assert_eq!(ids.len(), 60);

    // A record's history, oldest first, pages the same way.
    b.click("#entries a.subject[href='#/subject/post/1']").await;
    b.wait_count("#history li.entry", 50).await;
    b.js(
        "document.querySelector('button.more').scrollIntoView()",
        vec![],
    )
    .await;
    b.wait_count("#history li.entry", 58).await;
    let last = "#history li.entry:last-child tr[data-field=body]";
    assert_eq!(b.text(&format!("{last} del")).await, "\"edit 53\"");
    assert_eq!(b.text(&format!("{last} ins")).await, "\"edit 54\"");
    b.wait_count("#versions tbody tr", 58).await;

    // A page that fails is asked for once, not again and again while its button stays
    // in view; the button retries it.
    b.js("location.hash = '#/'", vec![]).await;
    b.wait_count("#entries li.entry", 50).await;
    b.js(
        "window.failedPages = 0;
         window.realFetch = window.fetch;
         window.fetch = (input, init) => {
           if (String(input).includes('after_id')) {
             window.failedPages += 1;
             return Promise.reject(new TypeError('the network is down'));
           }
           return window.realFetch(input, init);
         };
         document.querySelector('button.more').scrollIntoView()",
        vec![],
    )
    .await;
    b.wait("a failed page", "return window.failedPages > 0")
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let failed = b.js("return window.failedPages", vec![]).await;
    assert_eq!(failed, json!(1), "the failing page was asked for again");
    // Nor when the button is scrolled out of view and back.
    b.js("window.scrollTo(0, 0)", vec![]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    b.js(
        "document.querySelector('button.more').scrollIntoView()",
        vec![],
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let failed = b.js("return window.failedPages", vec![]).await;
    assert_eq!(
        failed,
        json!(1),
        "scrolling back asked for the failing page again"
    );
    b.js("window.fetch = window.realFetch", vec![]).await;
    b.click("button.more").await;
    b.wait_count("#entries li.entry", 60).await;
    b.client.clone().close().await.unwrap();
}
