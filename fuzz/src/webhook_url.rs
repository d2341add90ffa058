//! Target `webhook_url`: the URL a bot gives `setWebhook`, as the webhook client parses it
//! (`http_client::HttpUrl::parse`; UTF-8 input only, as the parameter is a string).
//!
//! Checks: no panic; an accepted URL has a host, a port other than 0 and a path that starts
//! with `/` and has no fragment; written again as `http://<Host header><path>` it parses back
//! to the same URL.

use chapar_server::botapi::http_client::HttpUrl;

pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(url) = HttpUrl::parse(text) else {
        return;
    };
    assert!(!url.host.is_empty() && url.port != 0, "{url:?}");
    assert!(
        url.path.starts_with('/') && !url.path.contains('#'),
        "{url:?}"
    );
    let again = format!("http://{}{}", url.host_header(), url.path);
    assert_eq!(
        HttpUrl::parse(&again),
        Ok(url),
        "{text:?} written as {again:?}"
    );
}
