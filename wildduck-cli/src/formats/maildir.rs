//! Maildir: one file per message in `cur/` or `new/`; flags in the file name's `:2,` info
//! (D draft, F flagged, P passed, R replied, S seen, T trashed; `a`–`z` are keywords listed in
//! Dovecot's `dovecot-keywords` file); the received date is the file's modification time.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use wildduck_store::{Flag, Flags, Timestamp};

use super::{Mail, system_time_of, timestamp_of};

/// Maildir has no `\Forwarded` system flag; `P` maps to the keyword clients use for it.
const FORWARDED: &str = "$Forwarded";
const KEYWORDS_FILE: &str = "dovecot-keywords";
const KEYWORD_LETTERS: &[u8; 26] = b"abcdefghijklmnopqrstuvwxyz";

const SYSTEM_LETTERS: [(char, Flag); 5] = [
    ('D', Flag::Draft),
    ('F', Flag::Flagged),
    ('R', Flag::Answered),
    ('S', Flag::Seen),
    ('T', Flag::Deleted),
];

/// Whether `dir` is a Maildir (has `cur/` or `new/`).
pub fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() || dir.join("new").is_dir()
}

/// The message files of a Maildir (`cur/` and `new/`, dot files skipped), in file name order,
/// which is delivery order for the usual `time.unique.host` names and UID order for ours.
pub fn message_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for sub in ["cur", "new"] {
        let path = dir.join(sub);
        if !path.is_dir() {
            continue;
        }
        for entry in fs::read_dir(&path)? {
            let entry = entry?;
            let hidden = entry.file_name().to_string_lossy().starts_with('.');
            if !hidden && entry.file_type()?.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

/// The keyword names of a Maildir (`dovecot-keywords`: `index name` per line); index 0 is `a`.
pub fn read_keywords(dir: &Path) -> io::Result<Vec<String>> {
    let text = match fs::read_to_string(dir.join(KEYWORDS_FILE)) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err),
    };
    let mut keywords = vec![String::new(); KEYWORD_LETTERS.len()];
    for line in text.lines() {
        let Some((index, name)) = line.split_once(' ') else {
            continue;
        };
        if let Some(slot) = index
            .parse::<usize>()
            .ok()
            .and_then(|i| keywords.get_mut(i))
        {
            *slot = name.trim().to_string();
        }
    }
    Ok(keywords)
}

/// The flags in a file name's info (`…:2,FS`); files in `new/` have none.
pub fn flags_of(file_name: &str, keywords: &[String]) -> Flags {
    let Some((_, info)) = file_name.rsplit_once(":2,") else {
        return Flags::new();
    };
    info.chars()
        .filter_map(|c| {
            if c == 'P' {
                return Some(Flag::Keyword(FORWARDED.into()));
            }
            if let Some((_, flag)) = SYSTEM_LETTERS.iter().find(|(letter, _)| *letter == c) {
                return Some(flag.clone());
            }
            let index = KEYWORD_LETTERS.iter().position(|&l| char::from(l) == c)?;
            let name = keywords.get(index).filter(|k| !k.is_empty())?;
            Some(Flag::Keyword(name.clone()))
        })
        .collect()
}

/// Reads one message file of a Maildir.
pub fn read_message(path: &Path, keywords: &[String]) -> io::Result<Mail> {
    let raw = fs::read(path)?;
    let modified = fs::metadata(path)?.modified()?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let in_new = path
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|p| p == "new");
    Ok(Mail {
        raw,
        flags: if in_new {
            Flags::new()
        } else {
            flags_of(&name, keywords)
        },
        internal_date: Some(timestamp_of(modified)),
        origin: path.display().to_string(),
    })
}

/// Writes messages into a Maildir (created if needed), keeping `dovecot-keywords` up to date.
pub struct MaildirWriter {
    dir: PathBuf,
    keywords: Vec<String>,
    /// Keywords beyond the 26 a Maildir can name; not written.
    pub dropped_keywords: Flags,
}

impl MaildirWriter {
    pub fn create(dir: &Path) -> io::Result<Self> {
        for sub in ["cur", "new", "tmp"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        let keywords = read_keywords(dir)?
            .into_iter()
            .take_while(|k| !k.is_empty())
            .collect();
        Ok(Self {
            dir: dir.to_path_buf(),
            keywords,
            dropped_keywords: Flags::new(),
        })
    }

    /// The info letters for `flags`, sorted as the Maildir spec asks.
    fn info(&mut self, flags: &Flags) -> String {
        let mut letters: Vec<char> = Vec::new();
        for flag in flags {
            if let Some((letter, _)) = SYSTEM_LETTERS.iter().find(|(_, f)| f == flag) {
                letters.push(*letter);
                continue;
            }
            let Flag::Keyword(name) = flag else { continue };
            if name == FORWARDED {
                letters.push('P');
                continue;
            }
            let index = match self.keywords.iter().position(|k| k == name) {
                Some(index) => index,
                None if self.keywords.len() < KEYWORD_LETTERS.len() => {
                    self.keywords.push(name.clone());
                    self.keywords.len() - 1
                }
                None => {
                    self.dropped_keywords.insert(flag.clone());
                    continue;
                }
            };
            letters.push(char::from(KEYWORD_LETTERS[index]));
        }
        letters.sort_unstable();
        letters.into_iter().collect()
    }

    /// Writes one message into `cur/` (via `tmp/`, as Maildir delivery does), its modification
    /// time set to `internal_date`. `unique` must be unique in this Maildir.
    pub fn write(
        &mut self,
        unique: &str,
        raw: &[u8],
        flags: &Flags,
        internal_date: Timestamp,
    ) -> io::Result<PathBuf> {
        let name = format!("{unique},S={}:2,{}", raw.len(), self.info(flags));
        let tmp = self.dir.join("tmp").join(&name);
        let mut file = fs::File::create(&tmp)?;
        file.write_all(raw)?;
        file.set_modified(system_time_of(internal_date))?;
        drop(file);
        let target = self.dir.join("cur").join(&name);
        fs::rename(&tmp, &target)?;
        Ok(target)
    }

    /// Saves the keyword names the written files use.
    pub fn finish(self) -> io::Result<Flags> {
        if !self.keywords.is_empty() {
            let text: String = self
                .keywords
                .iter()
                .enumerate()
                .map(|(i, k)| format!("{i} {k}\n"))
                .collect();
            fs::write(self.dir.join(KEYWORDS_FILE), text)?;
        }
        Ok(self.dropped_keywords)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_letters_map_to_flags() {
        let keywords = vec!["Junk".to_string(), "work".to_string()];
        assert_eq!(
            flags_of("123.abc.host:2,DFPRSTab", &keywords),
            Flags::from([
                Flag::Draft,
                Flag::Flagged,
                Flag::Keyword(FORWARDED.into()),
                Flag::Answered,
                Flag::Seen,
                Flag::Deleted,
                Flag::Keyword("Junk".into()),
                Flag::Keyword("work".into()),
            ])
        );
        assert_eq!(flags_of("123.abc.host", &keywords), Flags::new());
        assert_eq!(flags_of("123.abc.host:2,z", &keywords), Flags::new());
    }

    #[test]
    fn written_messages_read_back_with_bytes_flags_and_dates() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = MaildirWriter::create(dir.path()).unwrap();
        let flags = Flags::from([
            Flag::Seen,
            Flag::Keyword("work".into()),
            Flag::Keyword(FORWARDED.into()),
        ]);
        let path = writer
            .write("0001", b"Subject: x\r\n\r\nbody", &flags, 1_000_000)
            .unwrap();
        assert!(path.to_string_lossy().ends_with("0001,S=18:2,PSa"));
        writer.finish().unwrap();

        let keywords = read_keywords(dir.path()).unwrap();
        let files = message_files(dir.path()).unwrap();
        assert_eq!(files, vec![path]);
        let mail = read_message(&files[0], &keywords).unwrap();
        assert_eq!(mail.raw, b"Subject: x\r\n\r\nbody");
        assert_eq!(mail.flags, flags);
        assert_eq!(mail.internal_date, Some(1_000_000));
    }

    #[test]
    fn more_than_26_keywords_are_reported_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = MaildirWriter::create(dir.path()).unwrap();
        let flags: Flags = (0..30).map(|i| Flag::Keyword(format!("k{i:02}"))).collect();
        writer.write("1", b"A: b\n\n", &flags, 0).unwrap();
        let dropped = writer.finish().unwrap();
        assert_eq!(dropped.len(), 4);
    }
}
