-- wrk script: every request is POST /ingest with one event, the same event as the bench's
-- (EVENT in scripts/lib.sh and benches/src/runner/scenarios.rs; a unit test keeps them equal).
--   wrk -t1 -c100 -d10s -s scripts/ingest.lua http://127.0.0.1:PORT/ingest
wrk.method = "POST"
wrk.body = '{"name":"cpu.load","value":0.93,"ts":1732370000123,"tags":{"host":"web-1","region":"eu-west-1"}}'
wrk.headers["Content-Type"] = "application/json"

-- wrk counts answers outside 2xx/3xx as "Non-2xx or 3xx responses" in its summary; a
-- run with any of those (or socket errors) did not measure what it claims to.
