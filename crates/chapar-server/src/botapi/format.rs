//! Text formatting as Telegram does it: `parse_mode` (`HTML`, `MarkdownV2`, `Markdown`) turns
//! marked-up text into plain text plus entities, and [`detect`] finds the entities Telegram
//! adds by itself (bot commands, mentions, hashtags, links), which bot libraries rely on to
//! route `/commands`. Offsets and lengths count UTF-16 code units.
//!
//! Supported: bold, italic, underline, strikethrough, spoiler, inline code, pre (with a
//! language), text links and blockquotes. Markup that does not parse is a 400 "can't parse
//! entities", as on Telegram, and changes nothing.

use chapar_proto::Entity;

/// Plain text and its entities.
pub type Formatted = (String, Vec<Entity>);

/// Parse `text` in `mode` (case-insensitive; `None` or empty: plain text).
pub fn parse(mode: Option<&str>, text: &str) -> Result<Formatted, String> {
    match mode.map(|m| m.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") => Ok((text.to_string(), Vec::new())),
        Some("html") => html(text),
        Some("markdownv2") => markdown(text, true),
        Some("markdown") => markdown(text, false),
        Some(other) => Err(format!("unsupported parse_mode {other:?}")),
    }
}

/// Builds the plain text, counting UTF-16 units, with a stack of open entities.
#[derive(Default)]
struct Builder {
    text: String,
    len16: u32,
    open: Vec<(String, u32, Option<String>, Option<String>)>,
    done: Vec<Entity>,
}

impl Builder {
    fn push(&mut self, c: char) {
        self.text.push(c);
        self.len16 += c.len_utf16() as u32;
    }

    fn push_str(&mut self, s: &str) {
        for c in s.chars() {
            self.push(c);
        }
    }

    fn open(&mut self, kind: &str, url: Option<String>, language: Option<String>) {
        self.open
            .push((kind.to_string(), self.len16, url, language));
    }

    fn is_open(&self, kind: &str) -> bool {
        self.open.iter().any(|(k, ..)| k == kind)
    }

    /// Close the innermost entity, which must be `kind`.
    fn close(&mut self, kind: &str) -> Result<(), String> {
        match self.open.pop() {
            Some((k, offset, url, language)) if k == kind => {
                if self.len16 > offset {
                    self.done.push(Entity {
                        kind: k,
                        offset,
                        length: self.len16 - offset,
                        url,
                        language,
                    });
                }
                Ok(())
            }
            Some((k, ..)) => Err(format!(
                "can't parse entities: {kind} entity closes inside {k}"
            )),
            None => Err(format!("can't parse entities: unexpected end of {kind}")),
        }
    }

    fn finish(mut self) -> Result<Formatted, String> {
        if let Some((k, ..)) = self.open.last() {
            return Err(format!(
                "can't parse entities: can't find end of {k} entity"
            ));
        }
        self.done
            .sort_by_key(|e| (e.offset, std::cmp::Reverse(e.length)));
        Ok((self.text, self.done))
    }
}

// ---- HTML ---------------------------------------------------------------------------------

fn html(input: &str) -> Result<Formatted, String> {
    let mut b = Builder::default();
    let mut tags: Vec<String> = Vec::new();
    let mut rest = input;
    while let Some(c) = rest.chars().next() {
        match c {
            '<' => {
                let end = rest.find('>').ok_or("can't parse entities: unclosed tag")?;
                let tag = &rest[1..end];
                rest = &rest[end + 1..];
                html_tag(&mut b, &mut tags, tag)?;
            }
            '&' => {
                let (ch, used) = html_entity(rest);
                b.push_str(&ch);
                rest = &rest[used..];
            }
            _ => {
                b.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if let Some(t) = tags.last() {
        return Err(format!(
            "can't parse entities: can't find end tag of \"{t}\""
        ));
    }
    b.finish()
}

fn html_tag(b: &mut Builder, tags: &mut Vec<String>, tag: &str) -> Result<(), String> {
    let (closing, body) = match tag.strip_prefix('/') {
        Some(t) => (true, t),
        None => (false, tag),
    };
    let name_end = body.find(|c: char| c.is_whitespace()).unwrap_or(body.len());
    let name = body[..name_end].to_ascii_lowercase();
    let attrs = &body[name_end..];
    let kind = match name.as_str() {
        "b" | "strong" => "bold",
        "i" | "em" => "italic",
        "u" | "ins" => "underline",
        "s" | "strike" | "del" => "strikethrough",
        "tg-spoiler" => "spoiler",
        "span" if closing || attr(attrs, "class").as_deref() == Some("tg-spoiler") => "spoiler",
        "code" => "code",
        "pre" => "pre",
        "a" => "text_link",
        "blockquote" => "blockquote",
        _ => {
            return Err(format!(
                "can't parse entities: unsupported start tag \"{name}\""
            ));
        }
    };
    if closing {
        match tags.pop() {
            Some(open) if open == name => {}
            _ => {
                return Err(format!(
                    "can't parse entities: unexpected end tag \"{name}\""
                ));
            }
        }
        // `<pre><code class="language-x">`: the code inside pre only names the language.
        if kind == "code" && b.open.last().is_some_and(|(k, ..)| k == "pre") {
            return Ok(());
        }
        return b.close(kind);
    }
    if tags.len() >= 32 {
        return Err("can't parse entities: tags nested too deeply".into());
    }
    tags.push(name);
    if kind == "code"
        && let Some(last) = b.open.last_mut()
        && last.0 == "pre"
        && last.1 == b.len16
    {
        last.3 = attr(attrs, "class").and_then(|c| c.strip_prefix("language-").map(String::from));
        return Ok(());
    }
    let url = if kind == "text_link" {
        Some(attr(attrs, "href").ok_or("can't parse entities: <a> without href")?)
    } else {
        None
    };
    b.open(kind, url, None);
    Ok(())
}

/// The value of attribute `name` (quoted with " or ', or bare), entities decoded.
fn attr(attrs: &str, name: &str) -> Option<String> {
    let lower = attrs.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name) {
        let at = from + i;
        let after = attrs[at + name.len()..].trim_start();
        let before_ok = at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace();
        if before_ok && let Some(v) = after.strip_prefix('=') {
            let v = v.trim_start();
            let raw = match v.chars().next() {
                Some(q @ ('"' | '\'')) => v[1..].split(q).next().unwrap_or(""),
                _ => v.split_whitespace().next().unwrap_or(""),
            };
            let mut out = String::new();
            let mut rest = raw;
            while let Some(c) = rest.chars().next() {
                if c == '&' {
                    let (s, used) = html_entity(rest);
                    out.push_str(&s);
                    rest = &rest[used..];
                } else {
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
            return Some(out);
        }
        from = at + name.len();
    }
    None
}

/// Decode the entity at the start of `s` (which starts with `&`): the text and bytes used.
fn html_entity(s: &str) -> (String, usize) {
    let literal = ("&".to_string(), 1);
    // Entity names are short: look for the `;` among the first few characters only.
    let Some(end) = s
        .char_indices()
        .take_while(|(i, _)| *i < 12)
        .find(|(_, c)| *c == ';')
        .map(|(i, _)| i)
    else {
        return literal;
    };
    let name = &s[1..end];
    let c = match name {
        "lt" => Some('<'),
        "gt" => Some('>'),
        "amp" => Some('&'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some('\u{a0}'),
        _ => name
            .strip_prefix("#x")
            .or_else(|| name.strip_prefix("#X"))
            .and_then(|h| u32::from_str_radix(h, 16).ok())
            .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
            .and_then(char::from_u32),
    };
    match c {
        Some(c) => (c.to_string(), end + 1),
        None => literal,
    }
}

// ---- Markdown -----------------------------------------------------------------------------

/// MarkdownV2 (`v2`) or the legacy Markdown.
fn markdown(input: &str, v2: bool) -> Result<Formatted, String> {
    let mut b = Builder::default();
    let chars: Vec<char> = input.chars().collect();
    let mut i = 0;
    let mut link_open = false;
    let at = |i: usize| chars.get(i).copied();
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if at(i + 1).is_some() => {
                b.push(chars[i + 1]);
                i += 2;
                continue;
            }
            '`' if at(i + 1) == Some('`') && at(i + 2) == Some('`') => {
                i += 3;
                let mut language = None;
                // The first line names the language when it is a single word.
                if let Some(nl) = chars[i..].iter().position(|c| *c == '\n') {
                    let first: String = chars[i..i + nl].iter().collect();
                    if !first.is_empty()
                        && !first.contains(char::is_whitespace)
                        && !first.contains('`')
                    {
                        language = Some(first);
                        i += nl + 1;
                    }
                }
                b.open("pre", None, language);
                loop {
                    match at(i) {
                        None => {
                            return Err("can't parse entities: can't find end of pre entity".into());
                        }
                        Some('`') if at(i + 1) == Some('`') && at(i + 2) == Some('`') => {
                            i += 3;
                            break;
                        }
                        Some('\\') if v2 && at(i + 1).is_some() => {
                            b.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(ch) => {
                            b.push(ch);
                            i += 1;
                        }
                    }
                }
                b.close("pre")?;
                continue;
            }
            '`' => {
                i += 1;
                b.open("code", None, None);
                loop {
                    match at(i) {
                        None => {
                            return Err(
                                "can't parse entities: can't find end of code entity".into()
                            );
                        }
                        Some('`') => {
                            i += 1;
                            break;
                        }
                        Some('\\') if v2 && at(i + 1).is_some() => {
                            b.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(ch) => {
                            b.push(ch);
                            i += 1;
                        }
                    }
                }
                b.close("code")?;
                continue;
            }
            '*' => toggle(&mut b, "bold")?,
            '_' if v2 && at(i + 1) == Some('_') => {
                toggle(&mut b, "underline")?;
                i += 1;
            }
            '_' => toggle(&mut b, "italic")?,
            '~' if v2 => toggle(&mut b, "strikethrough")?,
            '|' if v2 && at(i + 1) == Some('|') => {
                toggle(&mut b, "spoiler")?;
                i += 1;
            }
            '[' if !link_open => {
                link_open = true;
                b.open("text_link", None, None);
            }
            ']' if link_open && at(i + 1) == Some('(') => {
                let mut url = String::new();
                let mut j = i + 2;
                loop {
                    match at(j) {
                        None => {
                            return Err("can't parse entities: can't find end of a link url".into());
                        }
                        Some(')') => break,
                        Some('\\') if v2 && at(j + 1).is_some() => {
                            url.push(chars[j + 1]);
                            j += 2;
                        }
                        Some(ch) => {
                            url.push(ch);
                            j += 1;
                        }
                    }
                }
                if let Some(last) = b.open.last_mut()
                    && last.0 == "text_link"
                {
                    last.2 = Some(url);
                }
                b.close("text_link")?;
                link_open = false;
                i = j + 1;
                continue;
            }
            _ => b.push(c),
        }
        i += 1;
    }
    if link_open {
        return Err("can't parse entities: can't find end of a link".into());
    }
    b.finish()
}

fn toggle(b: &mut Builder, kind: &str) -> Result<(), String> {
    if b.open.last().is_some_and(|(k, ..)| k == kind) {
        b.close(kind)
    } else if b.is_open(kind) {
        Err(format!("can't parse entities: {kind} entities overlap"))
    } else {
        b.open(kind, None, None);
        Ok(())
    }
}

// ---- detection ----------------------------------------------------------------------------

/// The entities Telegram finds in any text: `/commands` (with `@bot`), `@mentions`,
/// `#hashtags` and `http(s)://` links, sorted by offset.
pub fn detect(text: &str) -> Vec<Entity> {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = Vec::new();
    let chars: Vec<(u32, char)> = {
        let mut off = 0u32;
        text.chars()
            .map(|c| {
                let at = off;
                off += c.len_utf16() as u32;
                (at, c)
            })
            .collect()
    };
    let end16 = |i: usize| {
        chars
            .get(i)
            .map_or(crate::botapi::format::utf16(text), |x| x.0)
    };
    let mut i = 0;
    while i < chars.len() {
        let (off, c) = chars[i];
        let starts_word = i == 0 || !word(chars[i - 1].1) && chars[i - 1].1 != '/';
        let run = |from: usize, ok: &dyn Fn(char) -> bool| {
            let mut j = from;
            while j < chars.len() && ok(chars[j].1) {
                j += 1;
            }
            j
        };
        let mut push = |kind: &str, j: usize| {
            out.push(Entity {
                kind: kind.into(),
                offset: off,
                length: end16(j) - off,
                url: None,
                language: None,
            });
        };
        if c == '/' && (i == 0 || chars[i - 1].1.is_whitespace()) {
            let mut j = run(i + 1, &|c| c.is_ascii_alphanumeric() || c == '_');
            if j > i + 1 && j - i - 1 <= 64 {
                if chars.get(j).is_some_and(|x| x.1 == '@') {
                    let k = run(j + 1, &|c| c.is_ascii_alphanumeric() || c == '_');
                    if k > j + 1 {
                        j = k;
                    }
                }
                if chars.get(j).is_none_or(|x| !word(x.1)) {
                    push("bot_command", j);
                    i = j;
                    continue;
                }
            }
        } else if c == '@' && starts_word {
            let j = run(i + 1, &|c| c.is_ascii_alphanumeric() || c == '_');
            if (4..=33).contains(&(j - i)) {
                push("mention", j);
                i = j;
                continue;
            }
        } else if c == '#' && starts_word {
            let j = run(i + 1, &word);
            if j > i + 1 {
                push("hashtag", j);
                i = j;
                continue;
            }
        } else if (c == 'h' || c == 'H') && starts_word {
            let rest: String = chars[i..chars.len().min(i + 8)]
                .iter()
                .map(|x| x.1)
                .collect();
            let lower = rest.to_ascii_lowercase();
            if lower.starts_with("https://") || lower.starts_with("http://") {
                let mut j = run(i, &|c| !c.is_whitespace());
                // Trailing punctuation is not part of a link.
                while j > i && matches!(chars[j - 1].1, '.' | ',' | '!' | '?' | ')' | ';' | ':') {
                    j -= 1;
                }
                push("url", j);
                i = j;
                continue;
            }
        }
        i += 1;
    }
    out
}

/// Length of `text` in UTF-16 code units.
pub fn utf16(text: &str) -> u32 {
    u32::try_from(chapar_core::bots::utf16_len(text)).unwrap_or(u32::MAX)
}

/// `stored` entities plus the detected ones that overlap none of them, sorted.
pub fn with_detected(text: &str, stored: &[Entity]) -> Vec<Entity> {
    let mut all: Vec<Entity> = stored.to_vec();
    for d in detect(text) {
        let overlaps = stored
            .iter()
            .any(|s| d.offset < s.offset + s.length && s.offset < d.offset + d.length);
        if !overlaps {
            all.push(d);
        }
    }
    all.sort_by_key(|e| (e.offset, std::cmp::Reverse(e.length)));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(f: &Formatted) -> Vec<(String, u32, u32)> {
        f.1.iter()
            .map(|e| (e.kind.clone(), e.offset, e.length))
            .collect()
    }

    #[test]
    fn html_becomes_text_and_entities() {
        let f = parse(
            Some("HTML"),
            "<b>bold</b> &amp; <i>it <u>u</u></i> <a href=\"https://x.org/?a=1&amp;b=2\">link</a>",
        )
        .unwrap();
        assert_eq!(f.0, "bold & it u link");
        assert_eq!(
            kinds(&f),
            vec![
                ("bold".into(), 0, 4),
                ("italic".into(), 7, 4),
                ("underline".into(), 10, 1),
                ("text_link".into(), 12, 4)
            ]
        );
        assert_eq!(f.1[3].url.as_deref(), Some("https://x.org/?a=1&b=2"));
        let pre = parse(
            Some("html"),
            "<pre><code class=\"language-rust\">fn x() {}</code></pre>",
        )
        .unwrap();
        assert_eq!(pre.0, "fn x() {}");
        assert_eq!(pre.1[0].language.as_deref(), Some("rust"));
        for bad in [
            "<b>x",
            "<b>x</i>",
            "<blink>x</blink>",
            "x</b>",
            "<a>x</a>",
            "<b",
        ] {
            assert!(parse(Some("HTML"), bad).is_err(), "{bad}");
        }
        // 😀 is two UTF-16 units.
        let e = parse(Some("HTML"), "😀<b>hi</b>").unwrap();
        assert_eq!(kinds(&e), vec![("bold".into(), 2, 2)]);
    }

    #[test]
    fn markdown_v2_and_legacy() {
        let f = parse(
            Some("MarkdownV2"),
            "*bold* _it_ __u__ ~s~ ||sp|| `c\\`` [l](https://a.b/\\)) 1\\.5",
        )
        .unwrap();
        assert_eq!(f.0, "bold it u s sp c` l 1.5");
        let k: Vec<String> = f.1.iter().map(|e| e.kind.clone()).collect();
        assert_eq!(
            k,
            vec![
                "bold",
                "italic",
                "underline",
                "strikethrough",
                "spoiler",
                "code",
                "text_link"
            ]
        );
        assert_eq!(f.1[6].url.as_deref(), Some("https://a.b/)"));
        let pre = parse(Some("markdownv2"), "```python\nprint(1)\n```").unwrap();
        assert_eq!(
            (pre.0.as_str(), pre.1[0].language.as_deref()),
            ("print(1)\n", Some("python"))
        );
        for bad in ["*open", "_a *b_ c*", "`x", "[x](y"] {
            assert!(parse(Some("MarkdownV2"), bad).is_err(), "{bad}");
        }
        let legacy = parse(Some("Markdown"), "*b* _i_ snake\\_case").unwrap();
        assert_eq!(legacy.0, "b i snake_case");
        assert_eq!(legacy.1.len(), 2);
        assert!(parse(Some("BBCode"), "x").is_err());
        assert_eq!(parse(None, "*x*").unwrap().0, "*x*");
    }

    /// Random markup never panics, and whatever parses gives entities inside the text that the
    /// store's rules accept (seeded, so a failure repeats).
    #[test]
    fn random_markup_parses_safely() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(0xf0_4a7);
        let pieces = [
            "*",
            "_",
            "__",
            "~",
            "||",
            "`",
            "```",
            "[",
            "](",
            ")",
            "\\",
            "<b>",
            "</b>",
            "<i>",
            "</i>",
            "<a href=\"https://x.y\">",
            "</a>",
            "<pre>",
            "<code class=\"language-r\">",
            "</code>",
            "</pre>",
            "&amp;",
            "&#x1F600;",
            "&",
            "<",
            ">",
            "x",
            " ",
            "😀",
            "سلام",
            "\n",
            "/cmd",
            "@bot_name",
            "#tag",
            "https://a.b/c",
        ];
        for _ in 0..5000 {
            let text: String = (0..rng.gen_range(0..16))
                .map(|_| pieces[rng.gen_range(0..pieces.len())])
                .collect();
            for mode in ["HTML", "MarkdownV2", "Markdown"] {
                if let Ok((plain, entities)) = parse(Some(mode), &text)
                    && !plain.trim().is_empty()
                {
                    assert!(
                        chapar_core::bots::entities(&plain, &entities).is_ok(),
                        "{mode} {text:?} -> {plain:?} {entities:?}"
                    );
                }
            }
            let detected = detect(&text);
            if !detected.is_empty() {
                assert!(
                    chapar_core::bots::entities(&text, &detected).is_ok(),
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn commands_mentions_hashtags_and_links_are_detected() {
        let d = detect("/start@echo_bot hi @sara #tag see https://x.org/a. and a/b @x");
        let got: Vec<(&str, u32, u32)> = d
            .iter()
            .map(|e| (e.kind.as_str(), e.offset, e.length))
            .collect();
        assert_eq!(
            got,
            vec![
                ("bot_command", 0, 15),
                ("mention", 19, 5),
                ("hashtag", 25, 4),
                ("url", 34, 15)
            ]
        );
        assert_eq!(detect("/help")[0].length, 5);
        assert!(detect("a/b").is_empty());
        let merged = with_detected("/go now", &[]);
        assert_eq!(merged[0].kind, "bot_command");
    }
}
