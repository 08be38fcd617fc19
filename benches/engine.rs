//! The native half of the CPU benchmark: the same recorded conversations as `bench/cpu.mjs`, replayed
//! through the Rust API (`Destination::begin_json`, `Conversation::respond`) with no WebAssembly and no
//! JavaScript in between. Reads the recording that `node bench/run.mjs` writes (or the path given in
//! `BENCH_RECORDING`) and prints one JSON line: µs per event by call type, steady and cold.
//! Run: `cargo bench --bench engine` after a `node bench/run.mjs` (which also runs this).

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::Value;
use zendesk_destination::{Destination, Response, Settings, Step};

const TYPES: [&str; 3] = ["identify", "track", "group"];

struct Entry {
    kind: String,
    event: String,
    responses: Vec<Response>,
    urls: Vec<String>,
    code: String,
}

fn entries(value: &Value) -> Vec<Entry> {
    let list = value.as_array().expect("a list of recorded conversations");
    list.iter()
        .map(|e| {
            let exchanges = e["exchanges"].as_array().expect("exchanges");
            Entry {
                kind: e["type"].as_str().unwrap_or_default().to_string(),
                event: e["event"].as_str().expect("event text").to_string(),
                responses: exchanges
                    .iter()
                    .map(|x| {
                        let r = &x["response"];
                        let headers: BTreeMap<String, Value> = r["headers"]
                            .as_object()
                            .map(|h| h.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                            .unwrap_or_default();
                        Response {
                            status: r["status"].as_u64().unwrap_or(0) as u16,
                            headers,
                            body: r["body"].as_str().map(str::to_string),
                            error: None,
                        }
                    })
                    .collect(),
                urls: exchanges.iter().map(|x| x["request"]["url"].as_str().unwrap_or_default().to_string()).collect(),
                code: e["outcome"]["code"].as_str().unwrap_or_default().to_string(),
            }
        })
        .collect()
}

/// One event through the engine; `check` compares each request and the outcome with the recording.
fn run(destination: &Destination, entry: &Entry, now: f64, check: bool) -> usize {
    let mut conversation = destination.begin_json(&entry.event, now);
    let mut n = 0;
    loop {
        let next = match conversation.step() {
            Step::Request { request } => {
                if check {
                    assert_eq!(request.url, entry.urls[n], "replay differs from the recording: {}", entry.event);
                }
                entry.responses[n].clone()
            }
            Step::Done { outcomes } => {
                if check {
                    let code = serde_json::to_value(outcomes[0].code).unwrap();
                    assert_eq!(code.as_str(), Some(entry.code.as_str()), "{}", entry.event);
                }
                return outcomes.len() + n;
            }
        };
        conversation.respond(next);
        n += 1;
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

fn main() {
    let path = std::env::var("BENCH_RECORDING").unwrap_or_else(|_| "target/bench/recording.json".to_string());
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (run `node bench/run.mjs`, which records it first)"));
    let recording: Value = serde_json::from_str(&text).expect("recording JSON");
    let settings = Settings::from_value(&recording["settings"]).expect("bench settings");
    let now = recording["now"].as_f64().unwrap_or(0.0);
    let iterations: usize = std::env::var("BENCH_ITERATIONS").ok().and_then(|s| s.parse().ok()).unwrap_or(15);
    let (first, steady, cold) =
        (entries(&recording["first"]), entries(&recording["steady"]), entries(&recording["cold"]));

    let destination = Destination::new(settings.clone());
    for entry in first.iter().chain(&steady).chain(&steady) {
        run(&destination, entry, now, true);
    }
    let mut sink = 0;
    let mut result = serde_json::Map::new();
    // BENCH_ONLY=steady:identify (say) times one row only: for profiling one path (callgrind, perf).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    for (mode, list) in [("steady", &steady), ("cold", &cold)] {
        let mut by_type = serde_json::Map::new();
        for kind in TYPES {
            if !only.is_empty() && only != format!("{mode}:{kind}") {
                continue;
            }
            let chosen: Vec<&Entry> = list.iter().filter(|e| e.kind == kind).collect();
            let mut samples = Vec::new();
            for it in 0..iterations + 2 {
                let fresh: Vec<Destination> = if mode == "cold" {
                    chosen.iter().map(|_| Destination::new(settings.clone())).collect()
                } else {
                    Vec::new()
                };
                let started = Instant::now();
                for (i, entry) in chosen.iter().enumerate() {
                    let d = if mode == "cold" { &fresh[i] } else { &destination };
                    sink += run(d, entry, now, it == 0);
                }
                let micros = started.elapsed().as_secs_f64() * 1e6 / chosen.len().max(1) as f64;
                if it >= 2 {
                    samples.push(micros);
                }
            }
            // The fastest iteration, as bench/cpu.mjs: the one least disturbed by other load.
            let fastest = samples.iter().copied().fold(f64::INFINITY, f64::min);
            by_type.insert(
                kind.to_string(),
                serde_json::json!({ "count": chosen.len(), "native": fastest, "nativeMedian": median(samples) }),
            );
        }
        result.insert(mode.to_string(), Value::Object(by_type));
    }
    result.insert("sink".into(), Value::from(sink % 2));
    println!("{}", Value::Object(result));
}
