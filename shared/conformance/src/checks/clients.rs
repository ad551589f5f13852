//! Real clients: `curl` and Python's `http.client`, where installed. Raw bytes prove the
//! rules; these prove that the clients people actually use get along with the server.

use std::process::Command;

use crate::check::{note, Ctx, Failure, Outcome};

/// Runs `program args`, skipping the check if the program is not installed.
fn run(program: &str, args: &[&str]) -> Result<String, Failure> {
    let output = Command::new(program).args(args).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Failure::Skip(format!("{program} is not installed"))
        } else {
            Failure::Fail(format!("cannot run {program}: {e}"))
        }
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        return Err(format!(
            "{program} failed ({}): {stdout}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(stdout)
}

/// `curl -H 'Expect: 100-continue' --data-binary @file` (≈ 600 KB of NDJSON) gets `202`
/// well before curl's 1 s fallback wait: the server sends `100 Continue` at once.
pub fn curl_expect_100_continue(ctx: &Ctx) -> Outcome {
    let addr = ctx.addr()?;
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = tmp.path().join("events.ndjson");
    let line = r#"{"name":"curl.upload","value":1.25,"tags":{"client":"curl"}}"#;
    let n = 600_000 / (line.len() + 1);
    std::fs::write(&file, format!("{line}\n").repeat(n)).map_err(|e| e.to_string())?;
    let data = format!("@{}", file.display());
    let url = format!("http://{addr}/ingest");
    let out = run(
        "curl",
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{time_total}",
            "-H",
            "Content-Type: application/x-ndjson",
            "-H",
            "Expect: 100-continue",
            "--data-binary",
            &data,
            &url,
        ],
    )?;
    let (code, time) = out.trim().split_once(' ').unwrap_or(("", ""));
    let seconds: f64 = time.parse().unwrap_or(f64::MAX);
    note(
        "curl_expect_100_continue",
        &format!("{n} events, HTTP {code} in {seconds:.3} s"),
    );
    if code != "202" {
        return Err(format!("curl upload with Expect: 100-continue got HTTP {code}").into());
    }
    if seconds >= 0.8 {
        return Err(format!(
            "curl's upload took {seconds:.3} s: it sat through its 1 s Expect fallback \
             (no `100 Continue` from the server?)"
        )
        .into());
    }
    Ok(())
}

/// curl fetching two URLs in one call reuses one keep-alive connection.
pub fn curl_keep_alive_reuse(ctx: &Ctx) -> Outcome {
    let addr = ctx.addr()?;
    let health = format!("http://{addr}/health");
    let stats = format!("http://{addr}/stats");
    let out = run(
        "curl",
        &[
            "-sS",
            "-o",
            "/dev/null",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{num_connects}\n",
            &health,
            &stats,
        ],
    )?;
    let lines: Vec<&str> = out.lines().collect();
    if lines != ["200 1", "200 0"] {
        return Err(format!(
            "curl fetching /health then /stats should print `200 1` and `200 0` (one connection, \
             reused); it printed {lines:?}"
        )
        .into());
    }
    Ok(())
}

/// Python's `http.client` does GET, POST, GET on one keep-alive connection.
pub fn python_http_client(ctx: &Ctx) -> Outcome {
    let addr = ctx.addr()?;
    let script = r#"
import http.client, json, sys
host, port = sys.argv[1].rsplit(":", 1)
conn = http.client.HTTPConnection(host, int(port), timeout=5)
conn.request("GET", "/health")
r = conn.getresponse(); body = r.read()
assert (r.status, body) == (200, b"ok"), (r.status, body)
sock = conn.sock
conn.request("POST", "/ingest", body=json.dumps([{"name": "py.check", "value": 1}, {"name": "py.check", "value": 2}]),
             headers={"Content-Type": "application/json"})
r = conn.getresponse(); body = r.read()
assert r.status == 202 and json.loads(body) == {"accepted": 2}, (r.status, body)
conn.request("GET", "/stats")
r = conn.getresponse(); stats = json.loads(r.read())
assert r.status == 200 and stats["events_accepted"] >= 2, (r.status, stats)
assert conn.sock is sock, "the connection was not kept alive"
print("ok")
"#;
    let out = run("python3", &["-c", script, &addr.to_string()])?;
    if out.trim() != "ok" {
        return Err(format!("the Python client script printed {out:?}").into());
    }
    Ok(())
}
