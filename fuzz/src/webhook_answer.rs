//! Target `webhook_answer`: what a webhook's server answers, as the webhook client reads it
//! (`http_client::complete`, which decides when the answer has all arrived, and
//! `http_client::parse_answer`).
//!
//! Checks: no panic; an accepted answer has a status of 100 to 599 and a body no longer than
//! the input; its status, content type and body, written again as an HTTP/1.1 answer with a
//! Content-Length (which `complete` must then see as whole) or a chunked body, parse back to
//! the same.

use chapar_server::botapi::http_client::{complete, parse_answer};

pub fn check(data: &[u8]) {
    let _ = complete(data);
    let Ok(answer) = parse_answer(data) else {
        return;
    };
    assert!(
        (100..600).contains(&answer.status),
        "status {}",
        answer.status
    );
    assert!(
        answer.body.len() <= data.len(),
        "a body longer than the answer"
    );
    let mut head = format!("HTTP/1.1 {} Whatever\r\n", answer.status);
    if let Some(ct) = &answer.content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    let mut sized = head.clone().into_bytes();
    sized.extend_from_slice(format!("Content-Length: {}\r\n\r\n", answer.body.len()).as_bytes());
    sized.extend_from_slice(&answer.body);
    assert!(complete(&sized), "a whole answer is not complete");
    let mut chunked = head.into_bytes();
    chunked.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
    for chunk in answer.body.chunks(7) {
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    for (how, bytes) in [("sized", sized), ("chunked", chunked)] {
        let back = parse_answer(&bytes).unwrap_or_else(|e| panic!("{how}: {e}"));
        assert_eq!(
            (back.status, &back.content_type, &back.body),
            (answer.status, &answer.content_type, &answer.body),
            "{how} round trip"
        );
    }
}
