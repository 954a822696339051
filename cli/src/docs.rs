//! `crr docs`: where the manual (the mdBook in docs/) is built, the configuration
//! page's generated table, and the pieces the book's example checks use: its
//! fenced code blocks and a shell-word splitter for the `crr` command lines in them.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct DocsArgs {
    #[command(subcommand)]
    pub what: Option<DocsWhat>,
    /// Open the built book in a browser (xdg-open / open) instead of printing its path.
    #[arg(long)]
    pub open: bool,
}

#[derive(Debug, Subcommand)]
pub enum DocsWhat {
    /// Print the configuration page's table of every CRR_* variable, generated from the
    /// registry the functions read (docs/configuration.md holds this text).
    Configuration,
}

/// Runs `crr docs`; returns the exit code.
pub fn run(args: DocsArgs) -> i32 {
    if let Some(DocsWhat::Configuration) = args.what {
        print!("{}", crr::config::markdown_table());
        return 0;
    }
    let exe = std::env::current_exe().ok();
    let cwd = std::env::current_dir().ok();
    let Some(index) = find_book(std::env::var_os("CRR_BOOK_DIR").map(PathBuf::from), exe.as_deref(), cwd.as_deref())
    else {
        eprintln!(
            "the book is not built here: run scripts/docs in crr's repository (it builds docs/ with mdbook into \
             target/book), or set CRR_BOOK_DIR to a built book; its source is docs/SUMMARY.md"
        );
        return 1;
    };
    if args.open {
        for opener in ["xdg-open", "open"] {
            if std::process::Command::new(opener).arg(&index).status().is_ok_and(|s| s.success()) {
                return 0;
            }
        }
        eprintln!("no browser could be started (tried xdg-open and open); open {} yourself", index.display());
        return 1;
    }
    println!("{}", index.display());
    0
}

/// The built book's `index.html`: under `CRR_BOOK_DIR`, else `book/` next to the
/// profile directory `crr` runs from (`target/ci/crr` → `target/book`), else
/// `target/book` in the current directory or one above it.
pub fn find_book(book_dir: Option<PathBuf>, exe: Option<&Path>, cwd: Option<&Path>) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(dir) = book_dir {
        candidates.push(dir);
    }
    if let Some(target) = exe.and_then(Path::parent).and_then(Path::parent) {
        candidates.push(target.join("book"));
    }
    for dir in cwd.into_iter().flat_map(Path::ancestors) {
        candidates.push(dir.join("target").join("book"));
    }
    candidates.into_iter().map(|d| d.join("index.html")).find(|p| p.is_file())
}

/// A fenced code block of a Markdown file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeBlock {
    /// The info string after the opening fence, e.g. `json rule-file`.
    pub info: String,
    /// The 1-based line of the opening fence.
    pub line: usize,
    pub text: String,
}

impl CodeBlock {
    /// The first word of the info string: the block's language.
    pub fn language(&self) -> &str {
        self.info.split([' ', ',']).next().unwrap_or("")
    }

    /// Whether the info string carries `tag` after the language.
    pub fn tagged(&self, tag: &str) -> bool {
        self.info.split([' ', ',']).skip(1).any(|t| t == tag)
    }
}

/// The fenced (```) code blocks of `markdown`, in order.
pub fn code_blocks(markdown: &str) -> Vec<CodeBlock> {
    let mut blocks = Vec::new();
    let mut open: Option<CodeBlock> = None;
    for (i, line) in markdown.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(info)) => {
                open = Some(CodeBlock { info: info.trim().to_owned(), line: i + 1, text: String::new() })
            }
            (Some(_), Some(_)) => blocks.extend(open.take()),
            (Some(block), None) => {
                block.text.push_str(line);
                block.text.push('\n');
            }
            (None, None) => {}
        }
    }
    blocks
}

/// The logical lines of a shell block: continuation lines (ending in `\`) joined,
/// with the 1-based line within the block each starts on.
pub fn shell_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let (start, mut joined) = current.take().unwrap_or((i + 1, String::new()));
        match line.strip_suffix('\\') {
            Some(head) => {
                joined.push_str(head);
                joined.push(' ');
                current = Some((start, joined));
            }
            None => {
                joined.push_str(line);
                out.push((start, joined));
            }
        }
    }
    out.extend(current);
    out
}

/// Splits one shell command line into words as a POSIX shell would for simple
/// commands: single and double quotes, backslash escapes, a `#` starting a word
/// begins a comment. Stops at the first `|`, `;`, `&&` or `>` outside quotes (the
/// rest is another command or a redirection). Expansions (`$X`) are kept as text.
pub fn shell_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '#' if !in_word => break,
            '|' | ';' | '>' | '<' => break,
            '&' if chars.peek() == Some(&'&') => break,
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(format!("unterminated ' in: {line}")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(format!("unterminated \" in: {line}")),
                        },
                        Some(c) => word.push(c),
                        None => return Err(format!("unterminated \" in: {line}")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// The `crr` invocation in a shell command's words, as its argument vector: the
/// words from `crr` (or a path ending in `/crr`) on, after any leading `NAME=value`
/// assignments; `None` when the command is not crr.
pub fn crr_command(words: &[String]) -> Option<Vec<String>> {
    let start = words.iter().position(|w| !is_assignment(w))?;
    let program = &words[start];
    (program == "crr" || program.ends_with("/crr")).then(|| words[start..].to_vec())
}

fn is_assignment(word: &str) -> bool {
    word.split_once('=').is_some_and(|(name, _)| {
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !name.starts_with('-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<String> {
        shell_words(line).unwrap()
    }

    #[test]
    fn shell_words_follow_the_shell() {
        let rows: &[(&str, &str, &[&str])] = &[
            ("plain", "crr backfill --dry-run", &["crr", "backfill", "--dry-run"]),
            ("comment", "crr status   # each rule", &["crr", "status"]),
            ("hash inside a word", "a b#c", &["a", "b#c"]),
            (
                "single quotes",
                r#"crr invoke backfill --payload '{"mode":"verify"}'"#,
                &["crr", "invoke", "backfill", "--payload", r#"{"mode":"verify"}"#],
            ),
            ("double quotes", r#"x "a \"b\" $C""#, &["x", r#"a "b" $C"#]),
            (
                "redirection ends it",
                "crr policy merge --existing a.json > merged.json",
                &["crr", "policy", "merge", "--existing", "a.json"],
            ),
            ("pipe ends it", "crr doctor --json | jq .", &["crr", "doctor", "--json"]),
            ("and ends it", "a && b", &["a"]),
            ("backslash", r"a\ b c", &["a b", "c"]),
            ("empty quotes are a word", "a ''", &["a", ""]),
        ];
        for (name, line, want) in rows {
            assert_eq!(words(line), want.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{name}");
        }
        assert!(shell_words("a 'open").is_err());
        assert!(shell_words("a \"open").is_err());
    }

    #[test]
    fn a_crr_command_is_found_after_assignments_and_by_path() {
        let rows: &[(&str, &str, Option<&[&str]>)] = &[
            ("bare", "crr status", Some(&["crr", "status"])),
            ("by path", "target/ci/crr dev up", Some(&["target/ci/crr", "dev", "up"])),
            ("after assignments", "CRR_X=1 Y=2 crr config", Some(&["crr", "config"])),
            ("another program", "scripts/demo --keep", None),
            ("a program ending in crr", "xcrr status", None),
            ("only assignments", "A=1", None),
        ];
        for (name, line, want) in rows {
            let got = crr_command(&words(line));
            let want = want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn code_blocks_and_logical_lines() {
        let md = "text\n```json rule-file\n{}\n```\n\n```sh\na \\\n  b\nc\n```\n";
        let blocks = code_blocks(md);
        assert_eq!(blocks.len(), 2);
        assert_eq!((blocks[0].language(), blocks[0].tagged("rule-file"), blocks[0].line), ("json", true, 2));
        assert_eq!(blocks[0].text, "{}\n");
        assert_eq!(blocks[1].language(), "sh");
        assert!(!blocks[1].tagged("rule-file"));
        assert_eq!(shell_lines(&blocks[1].text), vec![(1, "a    b".to_owned()), (3, "c".to_owned())]);
    }

    #[test]
    fn the_book_is_found_next_to_the_binary_or_under_the_working_directory() {
        let root = std::env::temp_dir().join(format!("crr-docs-{}", uuid::Uuid::new_v4()));
        let book = root.join("target").join("book");
        std::fs::create_dir_all(&book).unwrap();
        std::fs::write(book.join("index.html"), "<html></html>").unwrap();
        let exe = root.join("target").join("ci").join("crr");
        let index = book.join("index.html");
        assert_eq!(find_book(None, Some(&exe), None), Some(index.clone()));
        assert_eq!(find_book(None, None, Some(&root.join("docs"))), Some(index.clone()));
        assert_eq!(find_book(Some(book.clone()), None, None), Some(index));
        assert_eq!(find_book(None, Some(Path::new("/nonexistent/ci/crr")), Some(Path::new("/nonexistent"))), None);
        std::fs::remove_dir_all(&root).ok();
    }
}
