//! Drawing the chat: conversation list (with unread counts), message pane (or the help), input
//! line and the connection status line. Every piece of text is measured in display columns
//! (wide emoji and CJK take two, Persian marks none) and truncated or wrapped to fit, so nothing
//! spills over a border.

use super::app::{self, App, HELP, View, truncate, width, wrap};
use crate::output::snippet;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph};

/// Everything drawn from what others sent goes through this: control characters (and
/// newlines, which would break the layout) are shown, never sent to the terminal.
fn show(s: &str) -> String {
    crate::output::visible_inline(s).into_owned()
}

/// Draw the screen; returns the message pane's size and how many lines the conversation took.
pub fn draw(f: &mut Frame, app: &App) -> View {
    let [main, input, status] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(3),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let [list_area, msg_area] =
        Layout::horizontal([Constraint::Percentage(30), Constraint::Percentage(70)]).areas(main);

    // Conversation list.
    let list_cols = list_area.width.saturating_sub(2) as usize;
    let items: Vec<ListItem> = app
        .conversations
        .iter()
        .map(|c| {
            let name = match &c.peer {
                Some(p) => format!("@{}", p.handle),
                None => c.title.clone(),
            };
            let unread = if c.unread > 0 {
                format!(" ({})", c.unread)
            } else {
                String::new()
            };
            let name = truncate(&show(&name), list_cols.saturating_sub(width(&unread)));
            let mut spans = vec![Span::raw(name)];
            if !unread.is_empty() {
                spans.push(Span::styled(
                    unread,
                    Style::default()
                        .fg(Color::Yellow)
                        .add_modifier(Modifier::BOLD),
                ));
            }
            ListItem::new(Line::from(spans))
        })
        .collect();
    let mut state = ListState::default();
    state.select(
        app.selected
            .and_then(|s| app.conversations.iter().position(|c| c.id == s)),
    );
    let list = List::new(items)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title(truncate("Conversations", list_cols)),
        )
        .highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    f.render_stateful_widget(list, list_area, &mut state);

    // Messages: the newest that fit, or older ones when scrolled back.
    let cols = msg_area.width.saturating_sub(2) as usize;
    let rows = msg_area.height.saturating_sub(2) as usize;
    let title = match (&app.new_chat, app.selected_info()) {
        (Some(h), _) => format!("@{h} (new chat)"),
        (None, Some(c)) => match &c.peer {
            Some(p) => match app.presence_label(p.id, now_ms()) {
                Some(seen) => format!("@{} ({}) · {seen}", p.handle, p.display_name),
                None => format!("@{} ({})", p.handle, p.display_name),
            },
            None => format!("{} · {} members", c.title, c.member_count),
        },
        (None, None) => "no conversation".into(),
    };
    let mut title = show(&title);
    if app.show_help {
        title = "Help (any key closes it)".into();
    } else if app.scroll > 0 {
        title.push_str(" · scrolled back (PageDown)");
    }
    let mut lines: Vec<Vec<(String, Style)>> = vec![];
    if app.new_chat.is_none()
        && let Some(cache) = app.selected.and_then(|s| app.messages.get(&s))
    {
        for m in cache.iter().filter(|m| app::shown(m)) {
            lines.extend(wrap(&message_pieces(app, m), cols));
        }
    }
    if let Some((c, who, _)) = &app.typing
        && Some(*c) == app.selected
    {
        let notice = show(&format!("@{who} is typing…"));
        let style = Style::default()
            .fg(Color::DarkGray)
            .add_modifier(Modifier::ITALIC);
        lines.extend(wrap(&[(notice, style)], cols));
    }
    let view = View {
        rows,
        lines: lines.len(),
    };
    let shown: Vec<Line> = if app.show_help {
        HELP.iter()
            .flat_map(|h| wrap(&[(h.to_string(), Style::default())], cols))
            .take(rows)
            .map(to_line)
            .collect()
    } else {
        let scroll = app.scroll.min(lines.len().saturating_sub(rows));
        let end = lines.len() - scroll;
        let start = end.saturating_sub(rows);
        lines.drain(start..end).map(to_line).collect()
    };
    f.render_widget(
        Paragraph::new(shown).block(
            Block::default()
                .borders(Borders::ALL)
                .title(truncate(&title, cols)),
        ),
        msg_area,
    );

    // Input line, scrolled sideways to keep the cursor in view.
    let input_cols = input.width.saturating_sub(2) as usize;
    let (visible, cursor) = app.input_view(input_cols);
    f.render_widget(
        Paragraph::new(visible).block(Block::default().borders(Borders::ALL).title(truncate(
            "Message (Enter send · /help · PgUp/PgDn scroll · ↑↓ switch · Esc quit)",
            input_cols,
        ))),
        input,
    );
    f.set_cursor_position((input.x + 1 + cursor as u16, input.y + 1));

    f.render_widget(
        Paragraph::new(truncate(&show(&app.status), status.width as usize))
            .style(Style::default().fg(Color::Black).bg(Color::Gray)),
        status,
    );
    view
}

fn to_line(pieces: Vec<(String, Style)>) -> Line<'static> {
    Line::from(
        pieces
            .into_iter()
            .map(|(t, s)| Span::styled(t, s))
            .collect::<Vec<_>>(),
    )
}

/// One message as styled pieces of text, before wrapping.
fn message_pieces(app: &App, m: &chapar_sdk::proto::Message) -> Vec<(String, Style)> {
    use chapar_sdk::proto::MessageKind;
    let grey = Style::default().fg(Color::DarkGray);
    let time = crate::output::format_time(m.server_time);
    let time = time.get(11..16).unwrap_or("").to_string();
    let who_style = if m.sender == app.me {
        Style::default().fg(Color::Cyan)
    } else {
        Style::default().fg(Color::Green)
    };
    let mut pieces = vec![
        (format!("{time} #{} ", m.seq), grey),
        (show(&format!("@{}", m.sender_handle)), who_style),
        (
            if m.kind == MessageKind::System {
                " "
            } else {
                ": "
            }
            .to_string(),
            Style::default(),
        ),
    ];
    if let Some(f) = &m.forward {
        pieces.push((show(&format!("(forwarded from @{}) ", f.from.handle)), grey));
    }
    pieces.push((show(&snippet(m)), Style::default()));
    if let Some(r) = m.reply_to {
        pieces.push((format!("  ↩#{r}"), grey));
    }
    if m.edited_at.is_some() && !m.deleted {
        pieces.push((" (edited)".into(), grey));
    }
    for r in &m.reactions {
        pieces.push((show(&format!(" {}{}", r.emoji, r.count)), Style::default()));
    }
    // A bot's buttons, numbered as `chapar press CONV SEQ N` takes them.
    if let Some(k) = m.reply_markup.as_ref().filter(|_| !m.deleted) {
        let labels: Vec<String> = k
            .buttons()
            .enumerate()
            .map(|(i, b)| match &b.url {
                Some(_) => format!("{} [{} ↗]", i + 1, b.text),
                None => format!("{} [{}]", i + 1, b.text),
            })
            .collect();
        pieces.push((
            show(&format!("  {}", labels.join(" "))),
            Style::default().fg(Color::Yellow),
        ));
    }
    pieces
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
