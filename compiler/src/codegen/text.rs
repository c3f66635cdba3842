//! Text from the model (file paths, node and tensor names, the producer) on its way into
//! generated comments and documentation. It comes from a file that may be hostile, so every
//! such string goes through `comment_text`: one line, nothing that ends a comment or changes how
//! the source reads (line breaks, other control characters, bidirectional overrides).

use std::path::Path;

/// `s` made safe for a `//` comment or a doc line: control characters, Unicode line and
/// paragraph separators and bidirectional formatting characters are written as `\u{..}`
/// escapes (`\n`, `\r`, `\t` as such) and `*/` as `*\/`. Escaping twice changes nothing.
pub fn comment_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev = '\0';
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '/' if prev == '*' => out.push_str("\\/"),
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
        prev = c;
    }
    out
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{2028}' | '\u{2029}'                 // line and paragraph separators
            | '\u{200e}' | '\u{200f}' | '\u{061c}'  // direction marks
            | '\u{202a}'..='\u{202e}'               // embeddings and overrides
            | '\u{2066}'..='\u{2069}'               // isolates
            | '\u{feff}')
}

/// A path for a comment: its UTF-8 parts through `comment_text`, other bytes as `\xNN`.
pub fn path_text(path: &Path) -> String {
    let bytes = path.as_os_str().as_encoded_bytes();
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        out += &comment_text(chunk.valid());
        for b in chunk.invalid() {
            out += &format!("\\x{b:02x}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_comment_ends_and_controls_are_escaped() {
        assert_eq!(comment_text("a\nfn evil() {}"), "a\\nfn evil() {}");
        assert_eq!(comment_text("x\r\ny"), "x\\r\\ny");
        assert_eq!(comment_text("end */ here"), "end *\\/ here");
        let once = comment_text("a\n*/\u{2028}");
        assert_eq!(comment_text(&once), once, "idempotent");
        assert_eq!(comment_text("\u{2028}\u{202e}\u{7}"), "\\u{2028}\\u{202e}\\u{7}");
        assert_eq!(comment_text("\"quoted\" é ü 名前"), "\"quoted\" é ü 名前");
        for s in ["a\nb", "\r", "*/", "x\u{2029}y", "\u{85}"] {
            let t = comment_text(s);
            assert!(t.lines().count() <= 1 && !t.contains("*/") && !t.contains('\u{85}'), "{s:?} -> {t:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn paths_keep_their_bytes_visible() {
        use std::os::unix::ffi::OsStrExt;
        let p = Path::new(std::ffi::OsStr::from_bytes(b"dir/m\xffodel\n.onnx"));
        assert_eq!(path_text(p), "dir/m\\xffodel\\n.onnx");
    }
}
