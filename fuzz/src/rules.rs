//! Target `rules`: the validators of typed input in `chapar_core::rules` (handles, display
//! names and titles, client ids, message bodies, reactions). The input, as lossy UTF-8, goes
//! to every one of them.
//!
//! Checks: no panic; what a validator accepts has the shape its rule promises and is accepted
//! again unchanged (handles also with `@` and in capitals); a text body is accepted exactly
//! when a plain reading of the rule (not blank, at most the limit in characters, no control
//! characters but newline and tab) accepts it, with the same kind of error otherwise.

use chapar_core::{Error, Limits, rules};
use chapar_proto::Bytes;

pub fn check(data: &[u8]) {
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();

    if let Ok(h) = rules::handle(s) {
        assert!((3..=32).contains(&h.len()), "{h:?}");
        assert!(h.starts_with(|c: char| c.is_ascii_lowercase()), "{h:?}");
        assert!(
            h.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        );
        assert_eq!(rules::handle(&h).ok().as_ref(), Some(&h));
        let typed = format!(" @{} ", h.to_ascii_uppercase());
        assert_eq!(rules::handle(&typed).ok().as_ref(), Some(&h));
    }

    for max in [8, 64] {
        match rules::label("name", s, max) {
            Ok(l) => {
                assert_eq!(l, s.trim());
                assert!(!l.is_empty() && l.chars().count() <= max as usize, "{l:?}");
                assert!(!l.chars().any(char::is_control), "{l:?}");
                let invisible = ['\u{ad}', '\u{200b}', '\u{202e}', '\u{2066}', '\u{feff}'];
                assert!(!l.contains(invisible), "{l:?}");
                assert_eq!(rules::label("name", &l, max).ok().as_ref(), Some(&l));
            }
            Err(Error::TooLarge(_)) => assert!(s.trim().chars().count() > max as usize),
            Err(Error::Invalid(_)) => {}
            Err(e) => panic!("label: unexpected {e:?}"),
        }
    }

    if rules::client_id(s).is_ok() {
        assert!((1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic()));
    }
    if rules::emoji(s).is_ok() {
        assert!((1..=32).contains(&s.len()));
        assert!(!s.chars().any(|c| c.is_whitespace() || c.is_control()));
    }

    let small = Limits {
        max_text_chars: 8,
        max_body_bytes: 8,
        ..Limits::default()
    };
    for limits in [&small, &Limits::default()] {
        let got = rules::body(limits, None, Some(s), None);
        let max = limits.max_text_chars as usize;
        let expected = if s.trim().is_empty() {
            "invalid"
        } else if s.chars().count() > max {
            "too large"
        } else if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            "invalid"
        } else {
            "ok"
        };
        assert_eq!(kind(&got), expected, "text body {s:?}: {got:?}");
        if let Ok(ct) = &got {
            assert_eq!(ct, chapar_proto::TEXT_PLAIN);
        }

        // The input as a content type, with text and with opaque data.
        let ct_ok =
            !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
        let with_text = rules::body(limits, Some(s), Some("hi"), None);
        assert_eq!(
            with_text.is_ok(),
            ct_ok,
            "content type {s:?}: {with_text:?}"
        );
        let data = Bytes(data.iter().copied().take(16).collect());
        let with_data = rules::body(limits, Some(s), None, Some(&data));
        if let Ok(ct) = &with_data {
            assert!(ct_ok && ct == s && ct != chapar_proto::TEXT_PLAIN, "{ct:?}");
            assert!(!data.is_empty() && data.len() <= limits.max_body_bytes as usize);
        }
        assert!(rules::body(limits, Some(s), Some("hi"), Some(&data)).is_err());
        assert!(rules::body(limits, Some(s), None, None).is_err());
    }
}

fn kind(r: &chapar_core::Result<String>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(Error::Invalid(_)) => "invalid",
        Err(Error::TooLarge(_)) => "too large",
        Err(_) => "other",
    }
}
