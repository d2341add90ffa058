//! A minimal HTTP/1.1 client for webhooks: one `POST` of a JSON body to an `http://` URL per
//! connection (`Connection: close`), with a deadline, and a bounded read of the answer.
//!
//! Why not hyper's client or reqwest: neither is built into this binary today (axum brings only
//! hyper's server side), and a webhook needs one request shape, no TLS, no pooling and no
//! redirects. A hundred lines over `tokio::net::TcpStream` add no dependency and keep every
//! limit (header size, body size, time) explicit. HTTPS webhooks are not supported yet.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest answer read (status line, headers and body), in bytes.
const MAX_RESPONSE: usize = 64 * 1024;

/// A parsed `http://host[:port]/path?query` URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl HttpUrl {
    pub fn parse(url: &str) -> Result<HttpUrl, String> {
        let rest = match url.get(..7) {
            Some(s) if s.eq_ignore_ascii_case("http://") => &url[7..],
            _ => {
                return Err(if url.to_ascii_lowercase().starts_with("https://") {
                    "https webhooks are not supported by this server yet: use an http:// URL"
                        .to_string()
                } else {
                    "a webhook URL starts with http://".to_string()
                });
            }
        };
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("a webhook URL has no spaces or control characters".into());
        }
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        let path = path.split('#').next().unwrap_or("/").to_string();
        if authority.contains('@') {
            return Err("a webhook URL cannot carry credentials".into());
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6.find(']').ok_or("bad IPv6 host in the webhook URL")?;
            let port = v6[end + 1..].strip_prefix(':');
            (v6[..end].to_string(), port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| "bad port in the webhook URL")?,
            None => 80,
        };
        if host.is_empty() || port == 0 {
            return Err("the webhook URL has no host".into());
        }
        Ok(HttpUrl { host, port, path })
    }

    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Loopback, private, link-local, unspecified and other non-public addresses.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 0
                || (v4.octets()[0] == 100 && (64..128).contains(&v4.octets()[1]))
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

/// Resolve the URL's host; refuse non-public addresses unless `allow_private`.
pub async fn resolve(url: &HttpUrl, allow_private: bool) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((url.host.as_str(), url.port))
        .await
        .map_err(|e| format!("cannot resolve {}: {e}", url.host))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{} has no address", url.host));
    }
    if !allow_private && addrs.iter().any(|a| is_private(a.ip())) {
        return Err(format!(
            "{} is a private address; webhooks to private networks are off on this server",
            url.host
        ));
    }
    Ok(addrs)
}

/// An answer: status code, content type and (bounded) body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// POST `body` as JSON to `url` with extra `headers`, all within `timeout`.
pub async fn post_json(
    url: &HttpUrl,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
    allow_private: bool,
) -> Result<Answer, String> {
    tokio::time::timeout(timeout, async {
        let addrs = resolve(url, allow_private).await?;
        let mut stream = None;
        let mut last = String::new();
        for a in addrs {
            match TcpStream::connect(a).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = format!("cannot connect to {a}: {e}"),
            }
        }
        let mut stream = stream.ok_or(last)?;
        let mut head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: chapar-webhook\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            url.path,
            url.host_header(),
            body.len()
        );
        for (k, v) in headers {
            if v.contains(['\r', '\n']) {
                return Err("a header value contains a line break".to_string());
            }
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(|e| format!("write failed: {e}"))?;
        stream
            .write_all(body)
            .await
            .map_err(|e| format!("write failed: {e}"))?;
        let mut buf = Vec::with_capacity(4096);
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream
                .read(&mut chunk)
                .await
                .map_err(|e| format!("read failed: {e}"))?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
            if buf.len() > MAX_RESPONSE {
                // Enough to know the status; the rest is not read.
                break;
            }
            if complete(&buf) {
                break;
            }
        }
        parse_answer(&buf)
    })
    .await
    .map_err(|_| "the webhook did not answer in time".to_string())?
}

/// Whether `buf` holds a whole answer (by Content-Length; otherwise read until close).
fn complete(buf: &[u8]) -> bool {
    let Some(end) = find(buf, b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let length = head.lines().find_map(|l| {
        l.strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    match length {
        Some(n) => buf.len() >= end + 4 + n,
        None => false,
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Status, content type and body of an HTTP/1.x answer (chunked bodies are decoded).
pub fn parse_answer(buf: &[u8]) -> Result<Answer, String> {
    let end = find(buf, b"\r\n\r\n").ok_or("the webhook's answer has no complete header")?;
    let head = std::str::from_utf8(&buf[..end]).map_err(|_| "the answer's header is not text")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1 answer: {status_line:?}"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..600).contains(s))
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut content_type = None;
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        match k.as_str() {
            "content-type" => content_type = Some(v.to_ascii_lowercase()),
            "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
            "content-length" => length = v.parse::<usize>().ok(),
            _ => {}
        }
    }
    let raw = &buf[end + 4..];
    let body = if chunked {
        dechunk(raw)
    } else {
        raw[..length.unwrap_or(raw.len()).min(raw.len())].to_vec()
    };
    Ok(Answer {
        status,
        content_type,
        body,
    })
}

/// Decode as much of a chunked body as is there.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = find(raw, b"\r\n") {
        let size = std::str::from_utf8(&raw[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16).ok());
        let Some(size) = size else { break };
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        let Some(chunk) = start.checked_add(size).and_then(|end| raw.get(start..end)) else {
            out.extend_from_slice(&raw[start.min(raw.len())..]);
            break;
        };
        out.extend_from_slice(chunk);
        raw = raw.get(start + size + 2..).unwrap_or(&[]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let u = HttpUrl::parse("http://127.0.0.1:8443/hook/x?a=1#frag").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 8443, "/hook/x?a=1")
        );
        let d = HttpUrl::parse("HTTP://example.org").unwrap();
        assert_eq!(
            (d.port, d.path.as_str(), d.host_header()),
            (80, "/", "example.org".into())
        );
        let v6 = HttpUrl::parse("http://[::1]:9/h").unwrap();
        assert_eq!(
            (v6.host.as_str(), v6.host_header()),
            ("::1", "[::1]:9".into())
        );
        for bad in [
            "https://a/",
            "ftp://a",
            "http://",
            "http://a:99999/",
            "http://u:p@a/",
            "http://a/ b",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn private_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.1.1",
            "::1",
            "fd00::1",
            "0.0.0.0",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "2001:4860::8888"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn answers_parse() {
        let a = parse_answer(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        )
        .unwrap();
        assert_eq!((a.status, a.body.as_slice()), (200, &b"{}"[..]));
        let c = parse_answer(
            b"HTTP/1.1 500 X\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!((c.status, c.body.as_slice()), (500, &b"abcde"[..]));
        assert!(parse_answer(b"garbage\r\n\r\n").is_err());
        let huge = parse_answer(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nab",
        )
        .unwrap();
        assert_eq!(huge.body, b"ab");
        assert!(parse_answer(b"HTTP/1.1 200").is_err());
        assert!(complete(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"));
    }
}
