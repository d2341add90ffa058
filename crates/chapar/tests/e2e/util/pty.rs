//! A program under a pseudo-terminal (rustix's safe pty calls, no `unsafe`), and a small
//! terminal emulator for what it draws: cursor moves, clears and printed text placed in cells
//! by display width; colours and modes are skipped. Enough to read a ratatui screen.

use rustix::fs::{Mode, OFlags};
use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use unicode_width::UnicodeWidthChar;

/// A child process whose stdin and stdout are the slave side of a pty of `cols`×`rows`.
pub struct Pty {
    master: File,
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    pub cols: usize,
    pub rows: usize,
}

impl Pty {
    pub fn spawn(mut cmd: Command, cols: u16, rows: u16, stderr: File) -> Pty {
        let master =
            openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).expect("openpt");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        let slave = rustix::fs::open(
            name.as_c_str(),
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .expect("open the pty's slave side");
        rustix::termios::tcsetwinsize(
            &slave,
            rustix::termios::Winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            },
        )
        .expect("set the window size");
        let child = cmd
            .env("TERM", "xterm-256color")
            .stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave))
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .expect("start the program under the pty");
        let master = File::from(master);
        let output: Arc<Mutex<Vec<u8>>> = Arc::default();
        let (mut reader, sink) = (master.try_clone().expect("dup"), output.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            // Ends with EIO once the child has exited and closed the slave side.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Pty {
            master,
            child,
            output,
            cols: cols as usize,
            rows: rows as usize,
        }
    }

    /// Type: bytes as a terminal sends them for keys (`"\r"` Enter, `"\x1b[5~"` PageUp...).
    pub fn keys(&mut self, bytes: &str) {
        self.master.write_all(bytes.as_bytes()).expect("write keys");
        self.master.flush().ok();
    }

    /// The screen as drawn so far.
    pub fn screen(&self) -> Screen {
        Screen::parse(&self.output.lock().unwrap(), self.cols, self.rows)
    }

    /// Wait (up to 30 s, else fail with the screen) until the screen satisfies `ok`.
    pub fn wait_for(&self, what: &str, ok: impl Fn(&Screen) -> bool) -> Screen {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.screen();
            if ok(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "the screen never showed {what}:\n{}",
                s.text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait (up to 30 s) for the program to exit.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "the program did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The cells of a terminal screen; a wide character's second cell is empty.
pub struct Screen {
    pub cells: Vec<Vec<String>>,
    /// Where the cursor was left (row, column), as the program last placed it.
    pub cursor: (usize, usize),
}

impl Screen {
    pub fn parse(bytes: &[u8], cols: usize, rows: usize) -> Screen {
        let text = String::from_utf8_lossy(bytes);
        let mut s = Screen {
            cells: vec![vec![" ".to_string(); cols]; rows],
            cursor: (0, 0),
        };
        let (mut row, mut col) = (0usize, 0usize);
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\u{1b}' => match chars.next() {
                    Some('[') => {
                        let mut params = String::new();
                        let mut last = None;
                        for p in chars.by_ref() {
                            if ('\u{40}'..='\u{7e}').contains(&p) {
                                last = Some(p);
                                break;
                            }
                            params.push(p);
                        }
                        let nums: Vec<usize> = params
                            .trim_start_matches(['?', '>', '='])
                            .split(';')
                            .map(|n| n.parse().unwrap_or(0))
                            .collect();
                        let n = |i: usize| nums.get(i).copied().filter(|n| *n > 0).unwrap_or(1);
                        match last {
                            Some('H') | Some('f') => (row, col) = (n(0) - 1, n(1) - 1),
                            Some('A') => row = row.saturating_sub(n(0)),
                            Some('B') => row += n(0),
                            Some('C') => col += n(0),
                            Some('D') => col = col.saturating_sub(n(0)),
                            Some('G') => col = n(0) - 1,
                            Some('J') if params == "2" || params == "3" => {
                                s.cells.iter_mut().flatten().for_each(|c| *c = " ".into());
                            }
                            Some('J') => {
                                s.clear_line_from(row, col);
                                for r in row + 1..s.cells.len() {
                                    s.clear_line_from(r, 0);
                                }
                            }
                            Some('K') => s.clear_line_from(row, col),
                            _ => {}
                        }
                    }
                    Some(']') => {
                        // OSC, up to BEL or ESC \.
                        while let Some(p) = chars.next() {
                            if p == '\u{7}' || (p == '\u{1b}' && chars.next_if_eq(&'\\').is_some())
                            {
                                break;
                            }
                        }
                    }
                    Some('(') | Some(')') => {
                        chars.next();
                    }
                    _ => {}
                },
                '\r' => col = 0,
                '\n' => row += 1,
                '\u{8}' => col = col.saturating_sub(1),
                c if c.is_control() => {}
                c => {
                    let w = c.width().unwrap_or(0);
                    if w == 0 {
                        // Joins the character before it.
                        if let Some(prev) = s.cell(row, col.saturating_sub(1)) {
                            prev.push(c);
                        }
                        continue;
                    }
                    // As a terminal does: writing over half of a wide character blanks the other.
                    if s.cell(row, col).is_some_and(|c| c.is_empty()) && col > 0 {
                        *s.cell(row, col - 1).expect("cell") = " ".into();
                    }
                    if s.cell(row, col + w).is_some_and(|c| c.is_empty()) {
                        *s.cell(row, col + w).expect("cell") = " ".into();
                    }
                    *s.cell(row, col).expect("cell") = c.to_string();
                    for i in 1..w {
                        s.cell(row, col + i).expect("cell").clear();
                    }
                    col += w;
                }
            }
        }
        s.cursor = (row, col);
        s
    }

    fn cell(&mut self, row: usize, col: usize) -> Option<&mut String> {
        if row >= self.cells.len() {
            let cols = self.cells.first().map_or(80, Vec::len);
            self.cells.resize(row + 1, vec![" ".to_string(); cols]);
        }
        let line = &mut self.cells[row];
        if col >= line.len() {
            line.resize(col + 1, " ".to_string());
        }
        line.get_mut(col)
    }

    fn clear_line_from(&mut self, row: usize, col: usize) {
        if let Some(line) = self.cells.get_mut(row) {
            line.iter_mut().skip(col).for_each(|c| *c = " ".into());
        }
    }

    /// One row as text.
    pub fn line(&self, row: usize) -> String {
        self.cells[row].concat()
    }

    pub fn text(&self) -> String {
        (0..self.cells.len())
            .map(|r| self.line(r))
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn contains(&self, s: &str) -> bool {
        (0..self.cells.len()).any(|r| self.line(r).contains(s))
    }

    /// The first row containing `s`.
    pub fn row_of(&self, s: &str) -> Option<usize> {
        (0..self.cells.len()).find(|r| self.line(*r).contains(s))
    }

    /// The column (cell) of the last `c` in a row.
    pub fn last_col_of(&self, row: usize, c: &str) -> Option<usize> {
        self.cells[row].iter().rposition(|x| x == c)
    }
}
