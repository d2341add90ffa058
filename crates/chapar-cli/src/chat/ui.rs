//! Drawing the chat: conversation list (with unread counts), message pane, input line and the
//! connection status line.

use super::app::App;
use crate::output::snippet;

/// Everything drawn from what others sent goes through this: control characters (and
/// newlines, which would break the layout) are shown, never sent to the terminal.
fn show(s: &str) -> String {
    crate::output::visible_inline(s).into_owned()
}
use chapar_sdk::proto::MessageKind;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph};

pub fn draw(f: &mut Frame, app: &App) {
    let [main, input, status] = Layout::vertical([
        Constraint::Min(3),
        Constraint::Length(3),
        Constraint::Length(1),
    ])
    .areas(f.area());
    let [list_area, msg_area] =
        Layout::horizontal([Constraint::Percentage(30), Constraint::Percentage(70)]).areas(main);

    // Conversation list.
    let items: Vec<ListItem> = app
        .conversations
        .iter()
        .map(|c| {
            let name = match &c.peer {
                Some(p) => format!("@{}", p.handle),
                None => c.title.clone(),
            };
            let mut spans = vec![Span::raw(show(&name))];
            if c.unread > 0 {
                spans.push(Span::styled(
                    format!(" ({})", c.unread),
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
                .title("Conversations"),
        )
        .highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    f.render_stateful_widget(list, list_area, &mut state);

    // Messages: the newest that fit.
    let title = app
        .selected_info()
        .map(|c| match &c.peer {
            Some(p) => format!("@{} ({})", p.handle, p.display_name),
            None => format!("{} · {} members", c.title, c.member_count),
        })
        .map(|t| show(&t))
        .unwrap_or_else(|| "no conversation".into());
    let height = msg_area.height.saturating_sub(2) as usize;
    let mut lines: Vec<Line> = app
        .selected
        .and_then(|s| app.messages.get(&s))
        .map(|cache| {
            cache
                .iter()
                .filter(|m| matches!(m.kind, MessageKind::Text | MessageKind::System))
                .map(|m| {
                    let time = crate::output::format_time(m.server_time);
                    let time = time.get(11..16).unwrap_or("").to_string();
                    let who_style = if m.sender == app.me {
                        Style::default().fg(Color::Cyan)
                    } else {
                        Style::default().fg(Color::Green)
                    };
                    let mut spans = vec![
                        Span::styled(format!("{time} "), Style::default().fg(Color::DarkGray)),
                        Span::styled(show(&format!("@{}", m.sender_handle)), who_style),
                        Span::raw(if m.kind == MessageKind::System {
                            " "
                        } else {
                            ": "
                        }),
                        Span::raw(show(&snippet(m))),
                    ];
                    if let Some(r) = m.reply_to {
                        spans.push(Span::styled(
                            format!("  ↩#{r}"),
                            Style::default().fg(Color::DarkGray),
                        ));
                    }
                    if m.edited_at.is_some() && !m.deleted {
                        spans.push(Span::styled(
                            " (edited)",
                            Style::default().fg(Color::DarkGray),
                        ));
                    }
                    for r in &m.reactions {
                        spans.push(Span::raw(show(&format!(" {}{}", r.emoji, r.count))));
                    }
                    // A bot's buttons (press them with `chapar press CONV SEQ LABEL`).
                    if let Some(k) = m.reply_markup.as_ref().filter(|_| !m.deleted) {
                        let labels: Vec<String> = k
                            .buttons()
                            .map(|b| match &b.url {
                                Some(_) => format!("[{} ↗]", b.text),
                                None => format!("[{}]", b.text),
                            })
                            .collect();
                        spans.push(Span::styled(
                            show(&format!("  #{} {}", m.seq, labels.join(" "))),
                            Style::default().fg(Color::Yellow),
                        ));
                    }
                    Line::from(spans)
                })
                .collect()
        })
        .unwrap_or_default();
    if let Some((c, who, _)) = &app.typing
        && Some(*c) == app.selected
    {
        lines.push(Line::styled(
            show(&format!("@{who} is typing…")),
            Style::default()
                .fg(Color::DarkGray)
                .add_modifier(Modifier::ITALIC),
        ));
    }
    let skip = lines.len().saturating_sub(height);
    let lines: Vec<Line> = lines.into_iter().skip(skip).collect();
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(title)),
        msg_area,
    );

    // Input line.
    f.render_widget(
        Paragraph::new(app.input.as_str()).block(
            Block::default()
                .borders(Borders::ALL)
                .title("Message (Enter send · ↑↓/Tab switch · Esc quit)"),
        ),
        input,
    );
    let cursor_x =
        input.x + 1 + (app.input.chars().count() as u16).min(input.width.saturating_sub(3));
    f.set_cursor_position((cursor_x, input.y + 1));

    f.render_widget(
        Paragraph::new(show(&app.status)).style(Style::default().fg(Color::Black).bg(Color::Gray)),
        status,
    );
}
