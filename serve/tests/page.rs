//! The operator page in headless Chromium (Debian's package, installed by
//! `cargo xtask chromium-setup`), driven over the DevTools protocol: load the runs page, open a
//! held run, see its unit tree and its diff, enact it (confirming, with the token), see the
//! outcome. Screenshots go to `target/serve-screenshots/`.
//!
//! Without Chromium the test says it is skipped and why; in CI (`CI` set) it fails instead.

mod support;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use support::{Server, TOKEN, ok};
use tungstenite::{Message, WebSocket};

const TEST: &str = "the_operator_reviews_and_enacts_a_held_run_in_chromium";

/// The Chromium binary: `IU_CUTTER_CHROMIUM`, or `chromium` / `chromium-browser` on the PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("IU_CUTTER_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Headless Chromium with its DevTools endpoint; killed when dropped.
struct Browser {
    child: Child,
    socket: WebSocket<TcpStream>,
    session: String,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Browser {
    /// Starts Chromium and opens one page at `url`.
    fn launch(binary: &Path, url: &str) -> Browser {
        let profile = ok(tempfile::tempdir(), "profile directory");
        let mut child = ok(
            Command::new(binary)
                .args([
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--remote-debugging-port=0",
                    "--window-size=1440,1000",
                ])
                .arg(format!("--user-data-dir={}", profile.path().display()))
                .arg("about:blank")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn(),
            "start chromium",
        );
        let endpoint = devtools_endpoint(&mut child);
        let authority = endpoint
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default()
            .to_owned();
        let stream = ok(TcpStream::connect(&authority), "DevTools TCP");
        ok(
            stream.set_read_timeout(Some(Duration::from_secs(30))),
            "read timeout",
        );
        let (socket, _) = match tungstenite::client(endpoint.as_str(), stream) {
            Ok(connected) => connected,
            Err(error) => panic!("DevTools WebSocket handshake: {error}"),
        };
        let mut browser = Browser {
            child,
            socket,
            session: String::new(),
            next_id: 0,
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", json!({ "url": "about:blank" }));
        let attached = browser.call(
            "Target.attachToTarget",
            json!({ "targetId": target["targetId"], "flatten": true }),
        );
        browser.session = attached["sessionId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 1440, "height": 1000, "deviceScaleFactor": 1, "mobile": false }),
        );
        browser.call("Page.enable", json!({}));
        browser.call("Page.navigate", json!({ "url": url }));
        browser
    }

    /// Sends one DevTools command (to the page's session once attached) and returns its result.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = Value::String(self.session.clone());
        }
        ok(
            self.socket.send(Message::text(message.to_string())),
            "DevTools send",
        );
        loop {
            let reply = ok(self.socket.read(), "DevTools read");
            let Message::Text(text) = reply else {
                continue;
            };
            let value: Value = ok(serde_json::from_str(text.as_str()), "DevTools JSON");
            if value["id"] == id {
                if let Some(error) = value.get("error") {
                    panic!("{method}: {error}");
                }
                return value["result"].clone();
            }
        }
    }

    /// The value of a JavaScript expression in the page.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression}: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is true in the page.
    fn wait_for(&mut self, what: &str, expression: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.eval(&format!("Boolean({expression})")) == Value::Bool(true) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let body = self.eval("document.body.innerText");
        panic!("waited 30 s for {what} ({expression}); the page shows:\n{body}");
    }

    /// Saves a screenshot of the page as `dir/name`.
    fn screenshot(&mut self, dir: &Path, name: &str) -> PathBuf {
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }));
        let data = shot["data"].as_str().unwrap_or_default();
        let png = ok(
            base64::engine::general_purpose::STANDARD.decode(data),
            "screenshot base64",
        );
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let path = dir.join(name);
        ok(std::fs::write(&path, png), "write the screenshot");
        path
    }
}

/// Reads Chromium's stderr until it names its DevTools WebSocket.
fn devtools_endpoint(child: &mut Child) -> String {
    let Some(stderr) = child.stderr.take() else {
        panic!("chromium's stderr");
    };
    let (found, endpoint) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("DevTools listening on ") {
                let _ = found.send(url.trim().to_owned());
            }
        }
    });
    ok(
        endpoint.recv_timeout(Duration::from_secs(30)),
        "chromium announces its DevTools endpoint within 30 s",
    )
}

/// `target/serve-screenshots`, beside the build's other artifacts.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let dir = target.join("serve-screenshots");
    ok(std::fs::create_dir_all(&dir), "screenshot directory");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_reviews_and_enacts_a_held_run_in_chromium() {
    let Some(binary) = chromium() else {
        let why =
            "Chromium is not installed (cargo xtask chromium-setup installs Debian's package)";
        if iu_cutter_test_env::in_ci() {
            panic!("{TEST}: {why}; CI is set, so the test fails instead of skipping");
        }
        iu_cutter_test_env::skip(TEST, why);
        return;
    };
    let server = Server::start(Some(TOKEN), true).await;
    // A first run enacted, an edit by the application, and a second run held for review.
    let edited = "# Guide\n\nIntro text.\n\n## Install\n\nRun the new installer twice.\n\n## Upgrade\n\nUpgrade it.\n";
    let held = server.held_after_an_edit("first", edited, "review").await;
    assert_eq!(held["record"]["status"], "HELD");

    let url = format!("http://{}/", server.addr);
    let dir = screenshot_dir();
    // The browser is driven from a blocking thread; the server keeps running on the runtime.
    let switch = server.switch.clone();
    let shots = tokio::task::spawn_blocking(move || drive(&binary, &url, &dir, &switch));
    let shots = ok(shots.await, "the browser thread");
    let detail = server.settled("review").await;
    assert_eq!(detail["record"]["status"], "PASS", "{detail}");
    assert_eq!(detail["report"]["outcome"]["name"], "PASS");
    eprintln!("screenshots: {}", shots.join(", "));
    server.stop().await;
}

/// The scenario in the page; returns the screenshots' paths.
fn drive(
    binary: &Path,
    url: &str,
    dir: &Path,
    switch: &iu_cutter_live_execution::ManualSwitch,
) -> Vec<String> {
    let mut browser = Browser::launch(binary, url);
    let mut shots = Vec::new();
    let row = r#"document.querySelector('#runs tr[data-run="review"]')"#;
    browser.wait_for("the held run in the runs table", row);
    browser.wait_for(
        "the kill switch's state",
        "document.getElementById('switch').classList.contains('open')",
    );
    let status = browser.eval(&format!("{row}.innerText"));
    assert!(
        status.as_str().is_some_and(|s| s.contains("HELD")),
        "{status}"
    );
    shots.push(browser.screenshot(dir, "1-runs.png"));

    browser.eval(&format!("{row}.click()"));
    browser.wait_for(
        "the unit tree and the diff",
        "document.querySelectorAll('#unit-tree .node[data-unit]').length === 3 \
         && document.querySelectorAll('#diff .diff-entry').length === 3",
    );
    let changes = browser.eval(
        "[...document.querySelectorAll('#diff .diff-entry')].map(e => e.dataset.change).sort().join(',')",
    );
    assert_eq!(changes, "added,changed,removed");
    let inserted = browser.eval(
        "[...document.querySelectorAll('#diff .diff-entry.changed ins')].map(e => e.textContent).join('|')",
    );
    assert!(
        inserted
            .as_str()
            .is_some_and(|s| s.contains("new") && s.contains("twice")),
        "{inserted}"
    );
    let text = browser.eval("document.getElementById('unit-text').textContent");
    assert!(
        text.as_str().is_some_and(|t| t.contains("Intro text.")),
        "{text}"
    );
    browser.eval(
        "[...document.querySelectorAll('#unit-tree .node[data-unit]')].find(n => n.textContent === 'Install').click()",
    );
    let text = browser.eval("document.getElementById('unit-text').textContent");
    assert!(
        text.as_str()
            .is_some_and(|t| t.contains("Run the new installer twice.")),
        "{text}"
    );
    shots.push(browser.screenshot(dir, "2-review.png"));

    browser.eval("document.getElementById('enact').click()");
    browser.wait_for(
        "the confirmation",
        "document.getElementById('confirm').open",
    );
    browser.eval(&format!(
        "document.getElementById('confirm-token').value = '{TOKEN}'"
    ));
    shots.push(browser.screenshot(dir, "3-confirm.png"));
    browser.eval("document.getElementById('confirm-yes').click()");
    browser.wait_for(
        "the outcome",
        "document.getElementById('outcome').classList.contains('PASS')",
    );
    browser.wait_for(
        "the table to show the run passed",
        r#"document.querySelector('#runs tr[data-run="review"]').innerText.includes('PASS')"#,
    );
    shots.push(browser.screenshot(dir, "4-enacted.png"));

    // The kill switch closes: the page says which source closed it and how to open it, and
    // Roll back is disabled.
    switch.set(false);
    browser.eval("document.getElementById('refresh').click()");
    browser.wait_for(
        "the closed kill switch's reason",
        "!document.getElementById('switch-note').hidden \
         && document.getElementById('switch-note').textContent.includes('test switch') \
         && document.getElementById('switch-note').textContent.includes('open the test switch')",
    );
    assert_eq!(
        browser.eval("document.getElementById('rollback').disabled"),
        Value::Bool(true)
    );
    shots.push(browser.screenshot(dir, "5-switch-closed.png"));
    shots.iter().map(|p| p.display().to_string()).collect()
}
