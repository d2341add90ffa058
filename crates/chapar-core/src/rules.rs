//! Rules: valid input and permissions. Pure functions, called by every store inside the
//! transaction that reads the state they judge, so a check and the write it allows are atomic.

use crate::error::{Error, Result};
use crate::limits::Limits;
use chapar_proto::{Bytes, ConversationKind, MessageKind, Role, Seq, TEXT_PLAIN, UserId};

/// Normalise a handle as typed by a person (`@Sara` → `sara`) and check it: 3 to 32 characters
/// of `a-z`, `0-9` and `_`, starting with a letter.
pub fn handle(raw: &str) -> Result<String> {
    let h = raw.trim().trim_start_matches('@').to_ascii_lowercase();
    let ok_len = (3..=32).contains(&h.len());
    let ok_chars = h
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let ok_start = h.bytes().next().is_some_and(|b| b.is_ascii_lowercase());
    if ok_len && ok_chars && ok_start {
        Ok(h)
    } else {
        Err(Error::invalid(format!(
            "handle {raw:?} is not valid: use 3 to 32 letters a-z, digits and _, starting with a letter"
        )))
    }
}

/// A display name or title: trimmed, not empty, no control characters, no invisible or
/// direction-changing format characters (except ZWNJ and ZWJ), at most `max` characters.
pub fn label(what: &str, raw: &str, max: u32) -> Result<String> {
    /// Unicode's format characters (general category Cf, Unicode 15.1), plus the line and
    /// paragraph separators. They draw nothing and can make a name look like another one
    /// (U+200B inside "admin"), turn the text after them around (U+202E between "evil" and "gnp.exe"
    /// shows as "evilexe.png"), or hide in plain sight (U+FEFF, U+00AD).
    ///
    /// Two are missing on purpose: ZWNJ U+200C is part of correct Persian spelling
    /// («می‌خواهم», «کتاب‌خانه»), so Persian names and titles need it, and ZWJ U+200D joins
    /// emoji sequences (👩‍💻). Tag characters (U+E0020–U+E007F) are allowed only in an emoji tag
    /// sequence (a subdivision flag after U+1F3F4), where they belong.
    const INVISIBLE: &[(u32, u32)] = &[
        (0x00AD, 0x00AD),
        (0x0600, 0x0605),
        (0x061C, 0x061C),
        (0x06DD, 0x06DD),
        (0x070F, 0x070F),
        (0x0890, 0x0891),
        (0x08E2, 0x08E2),
        (0x180E, 0x180E),
        (0x200B, 0x200B),
        (0x200E, 0x200F),
        (0x2028, 0x202E),
        (0x2060, 0x2064),
        (0x2066, 0x206F),
        (0xFEFF, 0xFEFF),
        (0xFFF9, 0xFFFB),
        (0x110BD, 0x110BD),
        (0x110CD, 0x110CD),
        (0x13430, 0x1343F),
        (0x1BCA0, 0x1BCA3),
        (0x1D173, 0x1D17A),
        (0xE0001, 0xE0001),
    ];
    const TAGS: (u32, u32) = (0xE0020, 0xE007F);
    const BLACK_FLAG: char = '\u{1F3F4}';
    let s = raw.trim();
    if s.is_empty() {
        return Err(Error::invalid(format!("{what} is empty")));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "{what} contains control characters"
        )));
    }
    let mut previous = None;
    for c in s.chars() {
        let n = c as u32;
        let tag = (TAGS.0..=TAGS.1).contains(&n);
        let in_flag = previous
            .is_some_and(|p: char| p == BLACK_FLAG || (TAGS.0..=TAGS.1).contains(&(p as u32)));
        if INVISIBLE.iter().any(|(lo, hi)| (*lo..=*hi).contains(&n)) || (tag && !in_flag) {
            return Err(Error::invalid(format!(
                "{what} contains the invisible or direction-changing character U+{n:04X}"
            )));
        }
        previous = Some(c);
    }
    let n = s.chars().count();
    if n > max as usize {
        return Err(Error::TooLarge(format!(
            "{what} has {n} characters, the limit is {max}"
        )));
    }
    Ok(s.to_string())
}

/// A client-chosen idempotency key: 1 to 64 printable ASCII characters.
pub fn client_id(raw: &str) -> Result<()> {
    if (1..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(Error::invalid(
            "client_id must be 1 to 64 printable ASCII characters",
        ))
    }
}

/// A message body: exactly one of `text` and `data`, within the limits. Returns the content type.
pub fn body(
    limits: &Limits,
    content_type: Option<&str>,
    text: Option<&str>,
    data: Option<&Bytes>,
) -> Result<String> {
    let ct = content_type.unwrap_or(TEXT_PLAIN);
    if ct.is_empty() || ct.len() > 128 || !ct.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(Error::invalid(
            "content_type must be 1 to 128 printable ASCII characters",
        ));
    }
    match (text, data) {
        (Some(t), None) => {
            if t.trim().is_empty() {
                return Err(Error::invalid("text is empty"));
            }
            // Count lazily: stop as soon as the limit is passed.
            if t.len() > limits.max_text_chars as usize * 4
                || t.chars().nth(limits.max_text_chars as usize).is_some()
            {
                return Err(Error::TooLarge(format!(
                    "text is longer than {} characters",
                    limits.max_text_chars
                )));
            }
            // C0 and C1 control characters (and DEL) other than newline and tab are never
            // text: in a terminal they are commands (ESC ] 0; sets the window title, ESC ] 52;
            // writes the clipboard, ESC [ colours and moves the cursor, CR overwrites a line).
            if let Some(c) = t
                .chars()
                .find(|c| c.is_control() && !matches!(c, '\n' | '\t'))
            {
                return Err(Error::invalid(format!(
                    "text contains the control character U+{:04X}; only newline and tab are allowed",
                    c as u32
                )));
            }
            Ok(ct.to_string())
        }
        (None, Some(d)) => {
            if d.is_empty() {
                return Err(Error::invalid("data is empty"));
            }
            if d.len() > limits.max_body_bytes as usize {
                return Err(Error::TooLarge(format!(
                    "data is larger than {} bytes",
                    limits.max_body_bytes
                )));
            }
            if ct == TEXT_PLAIN {
                return Err(Error::invalid(
                    "opaque data needs a content_type other than text/plain",
                ));
            }
            Ok(ct.to_string())
        }
        (Some(_), Some(_)) => Err(Error::invalid("give text or data, not both")),
        (None, None) => Err(Error::invalid("a message needs text or data")),
    }
}

/// A reaction: one short emoji or word, without spaces.
pub fn emoji(raw: &str) -> Result<()> {
    if raw.is_empty() || raw.len() > 32 || raw.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        Err(Error::invalid("a reaction is 1 to 32 bytes without spaces"))
    } else {
        Ok(())
    }
}

/// The page size to use for a request: the asked one, at most the configured maximum.
pub fn page(limits: &Limits, asked: Option<u32>, default: u32) -> u32 {
    asked.unwrap_or(default).clamp(1, limits.max_page)
}

/// The key that makes a direct conversation one per pair of users, whichever of them opens it:
/// `"smaller id:larger id"`.
pub fn direct_key(a: UserId, b: UserId) -> String {
    format!("{}:{}", a.0.min(b.0), a.0.max(b.0))
}

/// A reply must point at a message of the conversation that the member may see: from the
/// first seq they joined at up to the newest.
pub fn reply_to(reply_to: Option<Seq>, last_seq: Seq, joined_seq: Seq) -> Result<()> {
    match reply_to {
        Some(r) if r == 0 || r > last_seq || r < joined_seq => Err(Error::invalid(format!(
            "reply_to {r} is not a message of this conversation"
        ))),
        _ => Ok(()),
    }
}

/// May a member with `role` append a message to a conversation of `kind`?
pub fn can_post(kind: ConversationKind, role: Role) -> Result<()> {
    let ok = match kind {
        ConversationKind::Direct | ConversationKind::Group => {
            matches!(role, Role::Owner | Role::Admin | Role::Member)
        }
        ConversationKind::Channel => matches!(role, Role::Owner | Role::Admin),
        ConversationKind::Unknown => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::forbidden("you may not post in this conversation"))
    }
}

/// Membership changes only exist for groups and channels.
pub fn is_group_like(kind: ConversationKind) -> Result<()> {
    match kind {
        ConversationKind::Group | ConversationKind::Channel => Ok(()),
        _ => Err(Error::invalid(
            "direct conversations have no membership to change",
        )),
    }
}

pub fn can_add_members(role: Role) -> Result<()> {
    match role {
        Role::Owner | Role::Admin => Ok(()),
        _ => Err(Error::forbidden(
            "only the owner and admins may add members",
        )),
    }
}

/// The owner may remove anyone else; an admin may remove plain members.
pub fn can_remove(actor: Role, target: Role) -> Result<()> {
    match (actor, target) {
        (_, Role::Owner) => Err(Error::forbidden("the owner cannot be removed")),
        (Role::Owner, _) => Ok(()),
        (Role::Admin, Role::Member | Role::Subscriber) => Ok(()),
        _ => Err(Error::forbidden("you may not remove this member")),
    }
}

/// Who may pin a message: both people of a direct conversation; in a group, admins and the
/// owner.
pub fn can_pin(kind: ConversationKind, role: Role) -> Result<()> {
    if kind == ConversationKind::Direct || matches!(role, Role::Owner | Role::Admin) {
        Ok(())
    } else {
        Err(Error::forbidden(
            "only admins can pin messages in this group",
        ))
    }
}

pub fn can_rename(role: Role) -> Result<()> {
    match role {
        Role::Owner | Role::Admin => Ok(()),
        _ => Err(Error::forbidden("only the owner and admins may rename")),
    }
}

/// Only the owner changes roles; giving `owner` hands ownership over (the old owner becomes admin).
pub fn can_set_role(actor: Role, new_role: Role) -> Result<()> {
    if actor != Role::Owner {
        return Err(Error::forbidden("only the owner may change roles"));
    }
    match new_role {
        Role::Owner | Role::Admin | Role::Member => Ok(()),
        _ => Err(Error::invalid("role must be owner, admin or member")),
    }
}

/// May `actor` edit (or delete) a message? Only their own normal messages may be edited; own
/// messages, and in groups any message for the owner and admins, may be deleted.
pub fn can_change_message(
    op: MessageKind,
    actor_is_sender: bool,
    actor_role: Role,
    target_kind: MessageKind,
    target_deleted: bool,
) -> Result<()> {
    if target_kind != MessageKind::Text {
        return Err(Error::invalid(
            "only normal messages can be edited, deleted or reacted to",
        ));
    }
    if target_deleted {
        return Err(Error::not_found("that message was deleted"));
    }
    match op {
        MessageKind::Edit if actor_is_sender => Ok(()),
        MessageKind::Edit => Err(Error::forbidden("you can only edit your own messages")),
        MessageKind::Delete
            if actor_is_sender || matches!(actor_role, Role::Owner | Role::Admin) =>
        {
            Ok(())
        }
        MessageKind::Delete => Err(Error::forbidden("you can only delete your own messages")),
        MessageKind::Reaction => Ok(()),
        _ => Err(Error::invalid("not a message change")),
    }
}

/// When the owner leaves a group, who takes over: the first admin, else the first member.
/// `members` are (role, joined order) pairs without the leaving owner; returns the index chosen.
pub fn next_owner(members: &[(Role, i64)]) -> Option<usize> {
    let pick = |want: Role| {
        members
            .iter()
            .enumerate()
            .filter(|(_, (r, _))| *r == want)
            .min_by_key(|(_, (_, order))| *order)
            .map(|(i, _)| i)
    };
    pick(Role::Admin).or_else(|| pick(Role::Member))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_refuse_invisible_and_direction_characters_but_keep_zwnj_and_zwj() {
        // ZWNJ is part of correct Persian spelling; ZWJ joins emoji sequences.
        for good in [
            "می‌خواهم",
            "سارا",
            "Ana 👩‍💻",
            "گروه کتاب‌خوانی",
            "🏴\u{e0067}\u{e0062}\u{e0065}\u{e006e}\u{e0067}\u{e007f}",
        ] {
            assert_eq!(label("name", good, 64).unwrap(), good, "{good:?}");
        }
        for bad in [
            "evil\u{202e}gnp.exe",
            "\u{202a}x",
            "\u{202b}x",
            "\u{202c}x",
            "\u{202d}x",
            "a\u{2066}b",
            "a\u{2067}b",
            "a\u{2068}b",
            "a\u{2069}b",
            "ad\u{200b}min",
            "a\u{200e}b",
            "a\u{200f}b",
            "a\u{2060}b",
            "a\u{2061}b",
            "a\u{2064}b",
            "\u{feff}admin",
            "ad\u{ad}min",
            "a\u{61c}b",
            "a\u{180e}b",
            "a\u{206a}b",
            "a\u{fff9}b",
            "a\u{600}b",
            "a\u{e0001}b",
            "tag\u{e0041}alone",
            "a\u{1d173}b",
            "line\u{2028}break",
            "para\u{2029}break",
        ] {
            match label("display name", bad, 64) {
                Err(Error::Invalid(m)) => assert!(m.contains("invisible"), "{bad:?}: {m}"),
                other => panic!("{bad:?} accepted: {other:?}"),
            }
        }
    }

    #[test]
    fn texts_refuse_control_characters_but_keep_newlines_and_tabs() {
        let l = Limits::default();
        let ok = |t: &str| body(&l, None, Some(t), None);
        assert!(ok("سلام\nدنیا\tبا تب").is_ok());
        assert!(ok("می‌خواهم 👩‍💻").is_ok());
        for bad in [
            "title \u{1b}]0;owned\u{7}",
            "\u{1b}[31mred\u{1b}[0m",
            "clip \u{1b}]52;c;aGk=\u{7}",
            "nul \0 byte",
            "bell \u{7}",
            "carriage\rreturn",
            "backspace\u{8}",
            "delete \u{7f}",
            "csi \u{9b}31m",
            "osc \u{9d}0;x",
            "next line \u{85}",
        ] {
            match ok(bad) {
                Err(Error::Invalid(m)) => assert!(m.contains("control"), "{bad:?}: {m}"),
                other => panic!("{bad:?} accepted: {other:?}"),
            }
        }
    }

    #[test]
    fn a_reply_points_at_a_message_the_member_may_see() {
        assert!(reply_to(None, 0, 1).is_ok());
        assert!(reply_to(Some(5), 9, 5).is_ok());
        for bad in [0, 4, 10] {
            assert!(
                matches!(reply_to(Some(bad), 9, 5), Err(Error::Invalid(_))),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn handles_are_normalised_and_checked() {
        assert_eq!(handle("@Sara_1").unwrap(), "sara_1");
        for bad in ["ab", "1abc", "a b c", "سلام", "", "@", &"a".repeat(33)] {
            assert!(
                matches!(handle(bad), Err(Error::Invalid(_))),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn bodies_need_exactly_one_part_within_limits() {
        let l = Limits::default();
        assert_eq!(body(&l, None, Some("سلام"), None).unwrap(), TEXT_PLAIN);
        assert!(matches!(
            body(&l, None, Some("  "), None),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(body(&l, None, None, None), Err(Error::Invalid(_))));
        let long = "x".repeat(l.max_text_chars as usize + 1);
        assert!(matches!(
            body(&l, None, Some(&long), None),
            Err(Error::TooLarge(_))
        ));
        let exact = "ی".repeat(l.max_text_chars as usize);
        assert!(body(&l, None, Some(&exact), None).is_ok());
        let d = Bytes(vec![1; 10]);
        assert!(matches!(
            body(&l, None, None, Some(&d)),
            Err(Error::Invalid(_))
        ));
        assert_eq!(
            body(&l, Some("application/mls"), None, Some(&d)).unwrap(),
            "application/mls"
        );
    }

    #[test]
    fn roles_gate_membership_changes() {
        assert!(can_remove(Role::Owner, Role::Admin).is_ok());
        assert!(can_remove(Role::Admin, Role::Admin).is_err());
        assert!(can_remove(Role::Member, Role::Member).is_err());
        assert!(can_remove(Role::Admin, Role::Owner).is_err());
        assert!(can_add_members(Role::Member).is_err());
        assert!(can_post(ConversationKind::Channel, Role::Subscriber).is_err());
        assert!(can_set_role(Role::Admin, Role::Member).is_err());
        assert_eq!(
            next_owner(&[(Role::Member, 1), (Role::Admin, 5), (Role::Admin, 3)]),
            Some(2)
        );
        assert_eq!(next_owner(&[]), None);
    }

    #[test]
    fn only_senders_edit() {
        let t = MessageKind::Text;
        assert!(can_change_message(MessageKind::Edit, true, Role::Member, t, false).is_ok());
        assert!(can_change_message(MessageKind::Edit, false, Role::Owner, t, false).is_err());
        assert!(can_change_message(MessageKind::Delete, false, Role::Admin, t, false).is_ok());
        assert!(can_change_message(MessageKind::Delete, false, Role::Member, t, false).is_err());
        assert!(
            can_change_message(
                MessageKind::Reaction,
                false,
                Role::Member,
                MessageKind::System,
                false
            )
            .is_err()
        );
    }
}
