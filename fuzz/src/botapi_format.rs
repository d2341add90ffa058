//! Target `botapi_format`: `parse_mode` (`format::parse`: HTML, MarkdownV2 and Markdown) and
//! the entities found in any text (`format::detect`, `format::with_detected`).
//!
//! Input: the parse mode on the first line, the text after it (UTF-8; other input is skipped).
//!
//! Checks: no panic; every entity a parse gives is a known kind, non-empty, inside the plain
//! text (in UTF-16 units), sorted, nested in the others or apart from them, with a URL exactly
//! when a text link and a language only on pre; a plain text escaped for HTML, MarkdownV2 or
//! Markdown parses back to itself with no entities; the text and entities of any parse,
//! written as HTML, parse back to the same; detected entities are inside the text and apart.

use chapar_proto::Entity;
use chapar_server::botapi::format;

const KINDS: &[&str] = &[
    "bold",
    "italic",
    "underline",
    "strikethrough",
    "spoiler",
    "code",
    "pre",
    "text_link",
    "blockquote",
];

pub fn check(data: &[u8]) {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (mode, text) = input.split_once('\n').unwrap_or((input, ""));
    let mode = (!mode.is_empty()).then_some(mode);
    if let Ok((plain, entities)) = format::parse(mode, text) {
        if mode.is_none_or(|m| m.trim().is_empty()) {
            assert_eq!((plain.as_str(), entities.len()), (text, 0));
        }
        well_formed(&plain, &entities);
        let html = to_html(&plain, &entities);
        assert_eq!(
            format::parse(Some("HTML"), &html),
            Ok((plain.clone(), entities.clone())),
            "{mode:?} {text:?} written as HTML {html:?} does not parse back"
        );
        detected(&plain, &entities);
    }
    for (mode, escaped) in [
        ("HTML", escape_html(text)),
        ("MarkdownV2", escape_markdown(text)),
        ("Markdown", escape_markdown(text)),
    ] {
        assert_eq!(
            format::parse(Some(mode), &escaped),
            Ok((text.to_string(), Vec::new())),
            "{mode}: {text:?} escaped as {escaped:?}"
        );
    }
    detected(text, &[]);
}

fn utf16(s: &str) -> u32 {
    s.encode_utf16().count() as u32
}

fn well_formed(plain: &str, entities: &[Entity]) {
    let len = utf16(plain);
    for e in entities {
        assert!(KINDS.contains(&e.kind.as_str()), "kind {e:?}");
        assert!(
            e.length > 0 && e.offset + e.length <= len,
            "{e:?} outside {len}"
        );
        assert_eq!(e.url.is_some(), e.kind == "text_link", "{e:?}");
        assert!(e.language.is_none() || e.kind == "pre", "{e:?}");
    }
    for w in entities.windows(2) {
        assert!(
            (w[0].offset, std::cmp::Reverse(w[0].length))
                <= (w[1].offset, std::cmp::Reverse(w[1].length)),
            "not sorted: {w:?}"
        );
    }
    for (i, a) in entities.iter().enumerate() {
        for b in &entities[i + 1..] {
            let (a0, a1, b0, b1) = (a.offset, a.offset + a.length, b.offset, b.offset + b.length);
            let apart = a1 <= b0 || b1 <= a0;
            let nested = (a0 <= b0 && b1 <= a1) || (b0 <= a0 && a1 <= b1);
            assert!(apart || nested, "{a:?} and {b:?} cross");
        }
    }
}

fn detected(text: &str, stored: &[Entity]) {
    let len = utf16(text);
    let found = format::detect(text);
    for e in &found {
        assert!(
            e.length > 0 && e.offset + e.length <= len,
            "detected {e:?} outside {len}"
        );
    }
    for w in found.windows(2) {
        assert!(
            w[0].offset + w[0].length <= w[1].offset,
            "detected {w:?} overlap"
        );
    }
    let all = format::with_detected(text, stored);
    assert!(
        stored.iter().all(|s| all.contains(s)),
        "with_detected dropped one"
    );
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn escape_markdown(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "_*[]()~`>#+-=|{}.!\\".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The text with its entities as HTML tags. Entities are nested (checked above); of two with
/// the same span, the later one in the list is the outer one (a parse closes, and so lists,
/// the inner one first).
fn to_html(plain: &str, entities: &[Entity]) -> String {
    let mut order: Vec<usize> = (0..entities.len()).collect();
    order.sort_by_key(|&i| {
        let e = &entities[i];
        (e.offset, std::cmp::Reverse(e.length), std::cmp::Reverse(i))
    });
    let mut out = String::new();
    let mut open: Vec<&Entity> = Vec::new();
    let mut next = order.into_iter().peekable();
    let mut at = 0u32;
    let mut chars = plain.chars();
    loop {
        while open.last().is_some_and(|e| e.offset + e.length == at) {
            out.push_str(&end_tag(open.pop().expect("an open entity")));
        }
        while let Some(&i) = next.peek()
            && entities[i].offset == at
        {
            out.push_str(&start_tag(&entities[i]));
            open.push(&entities[i]);
            next.next();
        }
        let Some(c) = chars.next() else { break };
        out.push_str(&escape_html(c.encode_utf8(&mut [0; 4])));
        at += c.len_utf16() as u32;
    }
    out
}

fn start_tag(e: &Entity) -> String {
    match e.kind.as_str() {
        "bold" => "<b>".into(),
        "italic" => "<i>".into(),
        "underline" => "<u>".into(),
        "strikethrough" => "<s>".into(),
        "spoiler" => "<tg-spoiler>".into(),
        "code" => "<code>".into(),
        "pre" => match &e.language {
            Some(l) => format!("<pre><code class=\"language-{}\">", escape_html(l)),
            None => "<pre>".into(),
        },
        "text_link" => format!(
            "<a href=\"{}\">",
            escape_html(e.url.as_deref().unwrap_or(""))
        ),
        "blockquote" => "<blockquote>".into(),
        other => panic!("no HTML tag for {other}"),
    }
}

fn end_tag(e: &Entity) -> String {
    match e.kind.as_str() {
        "bold" => "</b>".into(),
        "italic" => "</i>".into(),
        "underline" => "</u>".into(),
        "strikethrough" => "</s>".into(),
        "spoiler" => "</tg-spoiler>".into(),
        "code" => "</code>".into(),
        "pre" if e.language.is_some() => "</code></pre>".into(),
        "pre" => "</pre>".into(),
        "text_link" => "</a>".into(),
        "blockquote" => "</blockquote>".into(),
        other => panic!("no HTML tag for {other}"),
    }
}
