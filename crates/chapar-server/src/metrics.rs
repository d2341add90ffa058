//! `GET /metrics` in the Prometheus text format: connections, admissions, rate limiting, queue
//! depths, lagging disconnects, and the store's write batches. Built from counters the parts
//! already keep; nothing here is on a hot path.

use crate::ratelimit::Limiters;
use crate::state::App;
use chapar_core::stats::Histogram;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;

pub fn render(app: &App) -> String {
    let mut out = String::with_capacity(4096);
    let a = &app.admission;
    let r = &app.registry;
    gauge(
        &mut out,
        "chapar_connections",
        "Open WebSocket connections.",
        r.connections() as f64,
    );
    gauge(
        &mut out,
        "chapar_connections_max",
        "The connection cap.",
        a.cap() as f64,
    );
    let h = &app.http;
    gauge(
        &mut out,
        "chapar_http_connections",
        "Open TCP connections (plain HTTP and WebSocket).",
        h.open.load(Ordering::Relaxed) as f64,
    );
    gauge(
        &mut out,
        "chapar_http_connections_max",
        "The cap on all TCP connections.",
        h.cap.load(Ordering::Relaxed) as f64,
    );
    header(
        &mut out,
        "chapar_http_closed_total",
        "HTTP connections closed by the node, by reason.",
        "counter",
    );
    for (reason, v) in [
        ("cap", &h.refused),
        ("header_timeout", &h.header_timeouts),
        ("idle_timeout", &h.idle_timeouts),
        ("body_timeout", &h.body_timeouts),
    ] {
        let _ = writeln!(
            out,
            "chapar_http_closed_total{{reason=\"{reason}\"}} {}",
            v.load(Ordering::Relaxed)
        );
    }
    counter(
        &mut out,
        "chapar_connections_admitted_total",
        "WebSocket upgrades admitted.",
        a.admitted.load(Ordering::Relaxed),
    );
    header(
        &mut out,
        "chapar_admissions_refused_total",
        "WebSocket upgrades refused with 503, by reason.",
        "counter",
    );
    for (reason, v) in [
        ("cap", &a.refused_cap),
        ("rate", &a.refused_rate),
        ("draining", &a.refused_draining),
    ] {
        let _ = writeln!(
            out,
            "chapar_admissions_refused_total{{reason=\"{reason}\"}} {}",
            v.load(Ordering::Relaxed)
        );
    }
    header(
        &mut out,
        "chapar_signups_refused_total",
        "Sign-ups refused, by reason.",
        "counter",
    );
    for (reason, v) in [
        ("node_budget", &a.signups_refused_node),
        ("address_budget", &a.signups_refused_address),
        ("write_pressure", &a.signups_refused_busy),
    ] {
        let _ = writeln!(
            out,
            "chapar_signups_refused_total{{reason=\"{reason}\"}} {}",
            v.load(Ordering::Relaxed)
        );
    }
    header(
        &mut out,
        "chapar_rate_limited_total",
        "Requests refused as rate limited, by limiter.",
        "counter",
    );
    for (name, v) in Limiters::NAMES.iter().zip(&app.limiters.refused) {
        let _ = writeln!(
            out,
            "chapar_rate_limited_total{{limiter=\"{name}\"}} {}",
            v.load(Ordering::Relaxed)
        );
    }
    counter(
        &mut out,
        "chapar_lagging_disconnects_total",
        "Connections closed because their outbound queue was full.",
        r.lagging(),
    );
    gauge(
        &mut out,
        "chapar_outbound_queued_frames",
        "Frames waiting in all connections' outbound queues.",
        r.queued_frames() as f64,
    );
    gauge(
        &mut out,
        "chapar_outbound_queued_bytes",
        "Bytes waiting in all connections' outbound queues (pushed events estimated).",
        r.queued_bytes() as f64,
    );
    counter(
        &mut out,
        "chapar_device_connections_refused_total",
        "Sign-ins refused because the device had too many connections on this node.",
        r.refused_per_device(),
    );
    if let Some(s) = app.store.stats() {
        gauge(
            &mut out,
            "chapar_write_queue_depth",
            "Writes waiting for the store's writer.",
            s.queue_depth.load(Ordering::Relaxed) as f64,
        );
        counter(
            &mut out,
            "chapar_write_refused_total",
            "Writes refused because the write queue was full.",
            s.refused.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "chapar_write_batch_retries_total",
            "Write batches run again whole after a conflict with another node.",
            s.batch_retries.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "chapar_write_batch_failures_total",
            "Write batches that could not be committed (their writes answered unavailable).",
            s.batch_failures.load(Ordering::Relaxed),
        );
        histogram(
            &mut out,
            "chapar_write_batch_size",
            "Writes per committed transaction (group commit).",
            &s.batch_size,
        );
        histogram(
            &mut out,
            "chapar_write_commit_seconds",
            "Time to run and commit one write batch.",
            &s.commit_seconds,
        );
    }
    if let Some(b) = app.bus.counters() {
        gauge(
            &mut out,
            "chapar_bus_connected",
            "1 while the cluster bus (NATS) is connected.",
            if b.connected { 1.0 } else { 0.0 },
        );
        gauge(
            &mut out,
            "chapar_bus_subscriptions",
            "Users this node is subscribed for on the bus.",
            b.subscriptions as f64,
        );
        counter(
            &mut out,
            "chapar_bus_published_total",
            "Bus messages published to other nodes.",
            b.published,
        );
        counter(
            &mut out,
            "chapar_bus_dropped_total",
            "Bus messages dropped (queue full or bus down); devices fill the gaps from the store.",
            b.dropped,
        );
        counter(
            &mut out,
            "chapar_bus_received_total",
            "Bus messages received from other nodes.",
            b.received,
        );
        counter(
            &mut out,
            "chapar_bus_reconnects_total",
            "Reconnections to the bus after it was lost.",
            b.reconnects,
        );
    }
    out
}

fn header(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn gauge(out: &mut String, name: &str, help: &str, v: f64) {
    header(out, name, help, "gauge");
    let _ = writeln!(out, "{name} {v}");
}

fn counter(out: &mut String, name: &str, help: &str, v: u64) {
    header(out, name, help, "counter");
    let _ = writeln!(out, "{name} {v}");
}

fn histogram(out: &mut String, name: &str, help: &str, h: &Histogram) {
    header(out, name, help, "histogram");
    let (buckets, sum, count) = h.snapshot();
    for (le, c) in buckets {
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {c}");
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{le=\"+Inf\"}} {count}\n{name}_sum {sum}\n{name}_count {count}"
    );
}
