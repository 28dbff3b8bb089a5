//! Images embedded in HTML as `data:` URLs become attachments of the message, as WildDuck's
//! `lib/data-url.js` makes them when a message is composed from JSON: each `<img src="data:…">`
//! gets a Content-ID, its `src` becomes `cid:…` and the decoded bytes go into the message as
//! an inline part beside the HTML. A `data-filename` attribute names the file (and is
//! removed). Rewritten tags are written back as WildDuck's HTML parser writes them:
//! attributes double-quoted, no self-closing slash. Other markup is left as it is.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::parsed::percent_decode;

/// One image taken out of the HTML.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddedImage {
    pub cid: String,
    pub content_type: String,
    pub filename: Option<String>,
    pub content: Vec<u8>,
}

/// The HTML with its `data:` images replaced by `cid:` links, and the images. `cid(n)`
/// gives the Content-ID of the n-th image (from 0).
pub fn extract(html: &str, cid: impl Fn(usize) -> String) -> (String, Vec<EmbeddedImage>) {
    let mut out = String::with_capacity(html.len());
    let mut images = Vec::new();
    let mut rest = html;
    while let Some(start) = find_img_tag(rest) {
        out.push_str(&rest[..start]);
        let tag_and_after = &rest[start..];
        let Some((attributes, tag_len)) = parse_tag(&tag_and_after[4..]) else {
            // An unterminated tag: the rest is text.
            rest = tag_and_after;
            break;
        };
        let tag_len = tag_len + 4;
        let src = attributes
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("src"))
            .and_then(|(_, value)| value.as_deref());
        match src.and_then(decode_data_url) {
            Some((content_type, content)) => {
                let id = cid(images.len());
                let filename = attributes
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("data-filename"))
                    .and_then(|(_, value)| value.clone());
                out.push_str(&write_img(&attributes, &id));
                images.push(EmbeddedImage {
                    cid: id,
                    content_type,
                    filename,
                    content,
                });
            }
            None => out.push_str(&tag_and_after[..tag_len]),
        }
        rest = &tag_and_after[tag_len..];
    }
    out.push_str(rest);
    (out, images)
}

/// Where the next `<img` tag starts (`<img` followed by white space, `/` or `>`).
fn find_img_tag(html: &str) -> Option<usize> {
    let bytes = html.as_bytes();
    let mut from = 0;
    while let Some(found) = html[from..].find('<') {
        let at = from + found;
        let name = bytes.get(at + 1..at + 4);
        let after = bytes.get(at + 4);
        if name.is_some_and(|n| n.eq_ignore_ascii_case(b"img"))
            && after.is_some_and(|c| c.is_ascii_whitespace() || *c == b'/' || *c == b'>')
        {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

type Attributes = Vec<(String, Option<String>)>;

/// The attributes of a tag whose name was read, up to its `>`, and how many bytes that took.
fn parse_tag(text: &str) -> Option<(Attributes, usize)> {
    let bytes = text.as_bytes();
    let mut attributes = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        match bytes.get(i)? {
            b'>' => return Some((attributes, i + 1)),
            _ => {
                let start = i;
                while i < bytes.len()
                    && !matches!(bytes[i], b'=' | b'>' | b'/')
                    && !bytes[i].is_ascii_whitespace()
                {
                    i += 1;
                }
                let name = text[start..i].to_string();
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                if bytes.get(i) != Some(&b'=') {
                    attributes.push((name, None));
                    continue;
                }
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                let value = match bytes.get(i)? {
                    quote @ (b'"' | b'\'') => {
                        let end = text[i + 1..].find(*quote as char)? + i + 1;
                        let value = &text[i + 1..end];
                        i = end + 1;
                        value
                    }
                    _ => {
                        let start = i;
                        while i < bytes.len() && bytes[i] != b'>' && !bytes[i].is_ascii_whitespace()
                        {
                            i += 1;
                        }
                        &text[start..i]
                    }
                };
                attributes.push((name, Some(value.to_string())));
            }
        }
    }
}

/// The tag with `src` pointing at `cid` and without `data-filename`.
fn write_img(attributes: &Attributes, cid: &str) -> String {
    let mut tag = String::from("<img");
    for (name, value) in attributes {
        if name.eq_ignore_ascii_case("data-filename") {
            continue;
        }
        tag.push(' ');
        tag.push_str(name);
        let value = if name.eq_ignore_ascii_case("src") {
            Some(format!("cid:{cid}"))
        } else {
            value.clone()
        };
        if let Some(value) = value {
            tag.push_str("=\"");
            tag.push_str(&value.replace('"', "&quot;"));
            tag.push('"');
        }
    }
    tag.push('>');
    tag
}

/// The media type and bytes of a `data:` URL (base64 or percent-encoded); None for anything
/// else or an undecodable one.
fn decode_data_url(url: &str) -> Option<(String, Vec<u8>)> {
    let rest = url.strip_prefix("data:")?;
    let (params, data) = rest.split_once(',')?;
    let base64 = params.to_ascii_lowercase().ends_with("base64");
    let content = if base64 {
        let compact: String = data.chars().filter(|c| !c.is_whitespace()).collect();
        STANDARD.decode(compact).ok()?
    } else {
        percent_decode(data.as_bytes())
    };
    let content_type = params
        .split(';')
        .find(|item| {
            item.split_once('/').is_some_and(|(kind, sub)| {
                !kind.is_empty() && !sub.is_empty() && !sub.contains('/')
            })
        })
        .map_or_else(
            || "application/octet-stream".to_string(),
            str::to_ascii_lowercase,
        );
    Some((content_type, content))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOT: &str = "iVBORw0KGgoAAAANSUhEUgAAAAUAAAAFCAYAAACNbyblAAAAHElEQVQI12P4//8/w38GIAXDIBKE0DHxgljNBAAO9TXL0Y4OHwAAAABJRU5ErkJggg==";

    #[test]
    fn data_images_become_cid_links_and_parts() {
        let html = format!(
            "<p>Hi <img src=\"data:image/png;base64,{DOT}\" alt=\"Red dot\" /> \
             <IMG data-filename='x.svg' src='data:image/svg+xml,%3Csvg%2F%3E'><img src=\"https://e.org/a.png\"/></p>"
        );
        let (rewritten, images) = extract(&html, |n| format!("c{n}@example.org"));
        assert_eq!(
            rewritten,
            "<p>Hi <img src=\"cid:c0@example.org\" alt=\"Red dot\"> \
             <img src=\"cid:c1@example.org\"><img src=\"https://e.org/a.png\"/></p>"
        );
        assert_eq!(images.len(), 2);
        assert_eq!(images[0].content_type, "image/png");
        assert_eq!(images[0].content, STANDARD.decode(DOT).unwrap());
        assert_eq!(images[0].filename, None);
        assert_eq!(images[1].content, b"<svg/>");
        assert_eq!(images[1].filename.as_deref(), Some("x.svg"));
        assert_eq!(images[1].content_type, "image/svg+xml");
    }

    #[test]
    fn html_without_data_images_is_unchanged() {
        for html in [
            "<p>plain</p>",
            "<imgx src=\"data:a/b,c\">",
            "<img src=\"data:",
            "a < b",
        ] {
            let (rewritten, images) = extract(html, |n| n.to_string());
            assert_eq!(rewritten, html);
            assert!(images.is_empty());
        }
    }
}
