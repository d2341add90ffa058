//! Target `botapi_params`: the parameters of a Bot API call (`Params::parse`: the query string
//! and a JSON, `application/x-www-form-urlencoded` or `multipart/form-data` body).
//!
//! Input: the Content-Type header on the first line (empty: none), the query string on the
//! second (empty: none), the body after it.
//!
//! Checks: no panic, from parsing or from any typed read of any parameter; at most 64
//! parameters; whitespace around the Content-Type changes nothing; a `%` in an accepted query
//! or form body starts a two-hex-digit escape; the parameters, written again as JSON (and,
//! when every value is a string, as a form body, a query string and a multipart body), parse
//! back to the same parameters.

use chapar_server::botapi::params::Params;
use serde_json::{Map, Value};

const BOUNDARY: &str = "chapar-fuzz-boundary";

pub fn check(data: &[u8]) {
    let (ct, rest) = line(data);
    let (query, body) = line(rest);
    let ct = (!ct.is_empty()).then(|| String::from_utf8_lossy(ct).into_owned());
    let query = (!query.is_empty()).then(|| String::from_utf8_lossy(query).into_owned());
    let parsed = Params::parse(query.as_deref(), ct.as_deref(), body);
    if let Some(ct) = &ct {
        let padded = Params::parse(query.as_deref(), Some(&format!(" \t{ct} ")), body);
        assert_eq!(
            padded.as_ref().map(|p| &p.0),
            parsed.as_ref().map(|p| &p.0),
            "whitespace around the Content-Type {ct:?} changed the result"
        );
    }
    let Ok(params) = parsed else { return };
    assert!(params.0.len() <= 64, "{} parameters", params.0.len());
    if let Some(q) = &query {
        assert_escapes_are_hex(q.as_bytes());
    }
    let lower = ct.as_deref().unwrap_or("").trim().to_ascii_lowercase();
    if lower.starts_with("application/x-www-form-urlencoded") {
        assert_escapes_are_hex(body);
    }
    for name in params.0.keys() {
        let _ = params.has(name);
        let _ = params.opt_int(name);
        let _ = params.opt_string(name);
        let _ = params.bool(name);
        let _ = params.json::<Value>(name);
        let _ = params.json::<Vec<chapar_proto::Entity>>(name);
    }
    round_trips(&params.0);
}

/// The bytes up to the first newline, and the rest.
fn line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

fn assert_escapes_are_hex(s: &[u8]) {
    for (i, _) in s.iter().enumerate().filter(|(_, b)| **b == b'%') {
        let hex = s.get(i + 1..i + 3);
        assert!(
            hex.is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)),
            "an invalid escape {:?} was accepted",
            String::from_utf8_lossy(&s[i..s.len().min(i + 3)])
        );
    }
}

fn round_trips(map: &Map<String, Value>) {
    let json = serde_json::to_vec(map).expect("a map of JSON values serialises");
    for ct in [Some("application/json"), None] {
        let back = Params::parse(None, ct, &json)
            .unwrap_or_else(|e| panic!("its own JSON {map:?} does not parse: {e:?}"));
        assert!(
            same_json(&Value::Object(back.0.clone()), &Value::Object(map.clone())),
            "JSON round trip: {map:?} became {:?}",
            back.0
        );
    }
    let Some(pairs) = map
        .iter()
        .map(|(k, v)| v.as_str().map(|v| (k.as_str(), v)))
        .collect::<Option<Vec<_>>>()
    else {
        return;
    };
    let form = urlencode(&pairs);
    let from_body = Params::parse(
        None,
        Some("application/x-www-form-urlencoded"),
        form.as_bytes(),
    );
    let from_query = Params::parse(Some(&form), None, b"");
    for back in [from_body, from_query] {
        let back = back.unwrap_or_else(|e| panic!("its own form {form:?} does not parse: {e:?}"));
        assert_eq!(&back.0, map, "form round trip of {form:?}");
    }
    let representable = pairs.iter().all(|(k, v)| {
        !k.contains(['"', ';', '\r', '\n']) && !k.contains(BOUNDARY) && !v.contains(BOUNDARY)
    });
    if representable {
        let body = multipart(&pairs);
        let ct = format!("multipart/form-data; boundary={BOUNDARY}");
        let back = Params::parse(None, Some(&ct), &body).unwrap_or_else(|e| {
            panic!(
                "its own multipart body {:?} does not parse: {e:?}",
                String::from_utf8_lossy(&body)
            )
        });
        assert_eq!(&back.0, map, "multipart round trip");
    }
}

/// Equal JSON, floats within rounding (serde_json's float parsing is not exact by default).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            x == y || (x - y).abs() <= 1e-12 * x.abs().max(y.abs())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

/// `k=v&...`, every byte but the unreserved ones escaped, spaces as `+`.
fn urlencode(pairs: &[(&str, &str)]) -> String {
    fn component(s: &str, out: &mut String) {
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    out.push(b as char)
                }
                b' ' => out.push('+'),
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        component(k, &mut out);
        out.push('=');
        component(v, &mut out);
    }
    out
}

fn multipart(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = String::new();
    for (k, v) in pairs {
        out.push_str(&format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n"
        ));
    }
    out.push_str(&format!("--{BOUNDARY}--\r\n"));
    out.into_bytes()
}
