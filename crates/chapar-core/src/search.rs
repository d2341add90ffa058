//! How text is made searchable, the same in every store: folded (case, the Arabic and Persian
//! forms of the same letter, diacritics, the zero-width non-joiner, Persian and Arabic digits)
//! and cut into words (runs of letters and digits). A store indexes a message's words and finds
//! those with a word starting with each of the query's words; it never tokenises by itself, so
//! SQLite, PostgreSQL and the memory store find the same messages whatever their locale.

use crate::error::{Error, Result};

/// Most words indexed per message (the rest of a very long text is not searchable).
pub const MAX_INDEXED_WORDS: usize = 512;
/// A word is cut to this many characters.
pub const MAX_WORD_CHARS: usize = 64;
/// Most words in a query.
pub const MAX_QUERY_WORDS: usize = 8;

/// One character as search sees it (`None`: it separates words or is dropped).
fn fold(c: char) -> Option<char> {
    Some(match c {
        // Arabic kaf and yeh (and alef maksura) are the Persian keheh and yeh.
        'ك' => 'ک',
        'ي' | 'ى' => 'ی',
        // Alef with hamza or madda, teh marbuta, heh with yeh: their plain letters.
        'أ' | 'إ' | 'آ' | 'ٱ' => 'ا',
        'ة' => 'ه',
        'ۀ' => 'ه',
        'ؤ' => 'و',
        // Persian and Arabic-Indic digits.
        '۰'..='۹' => char::from(b'0' + (c as u32 - '۰' as u32) as u8),
        '٠'..='٩' => char::from(b'0' + (c as u32 - '٠' as u32) as u8),
        _ => return Some(c),
    })
}

/// Harakat, tatweel and other marks that do not change a word.
fn is_mark(c: char) -> bool {
    matches!(c, '\u{064B}'..='\u{065F}' | '\u{0670}' | '\u{0640}' | '\u{0300}'..='\u{036F}')
}

/// The words of `text` as search sees them, each once, in order.
pub fn words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut chars = 0;
    let mut flush = |word: &mut String, chars: &mut usize| {
        if !word.is_empty() && !out.iter().any(|w| w == word) && out.len() < MAX_INDEXED_WORDS {
            out.push(std::mem::take(word));
        }
        word.clear();
        *chars = 0;
    };
    for c in text.chars() {
        if is_mark(c) {
            continue;
        }
        let Some(c) = fold(c) else { continue };
        if c.is_alphanumeric() {
            if chars < MAX_WORD_CHARS {
                word.extend(c.to_lowercase());
                chars += 1;
            }
        } else {
            flush(&mut word, &mut chars);
        }
    }
    flush(&mut word, &mut chars);
    out
}

/// The words of a search query: at least one, each at least 2 characters (shorter ones are
/// dropped when there are others), at most [`MAX_QUERY_WORDS`].
pub fn query(raw: &str) -> Result<Vec<String>> {
    if raw.chars().count() > 256 || raw.chars().any(char::is_control) {
        return Err(Error::invalid("that is not text to search for"));
    }
    let all = words(raw);
    let long: Vec<String> = all
        .iter()
        .filter(|w| w.chars().count() >= 2)
        .cloned()
        .collect();
    if long.is_empty() {
        return Err(Error::invalid("type at least 2 letters to search messages"));
    }
    if long.len() > MAX_QUERY_WORDS {
        return Err(Error::invalid(format!(
            "search for at most {MAX_QUERY_WORDS} words at once"
        )));
    }
    Ok(long)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persian_and_arabic_spellings_and_marks_fold_together() {
        // Arabic kaf and yeh, a zero-width non-joiner, harakat, tatweel and Persian digits.
        assert_eq!(words("كتابي"), words("کتابی"));
        assert_eq!(words("می\u{200C}خواهم"), ["می", "خواهم"]);
        assert_eq!(words("سَلام"), ["سلام"]);
        assert_eq!(words("سـلام"), ["سلام"]);
        assert_eq!(words("ساعت ۱۲"), ["ساعت", "12"]);
        assert_eq!(words("Hello, WORLD! hello"), ["hello", "world"]);
        assert_eq!(words("e-mail's"), ["e", "mail", "s"]);
    }

    #[test]
    fn queries_need_a_word_of_two_letters_and_not_too_many() {
        assert_eq!(query("a bo").unwrap(), ["bo"]);
        assert!(query("a").is_err());
        assert!(query("  !! ").is_err());
        assert!(query(&"w ".repeat(3)).is_err());
        assert!(query("aa bb cc dd ee ff gg hh ii").is_err());
        assert!(query("x\u{7}y").is_err());
    }
}
