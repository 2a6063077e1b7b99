//! Media helpers: data URLs and the image and document formats each target accepts.

/// A `data:<media type>;base64,<data>` URL split into media type and base64 data.
pub(crate) fn parse_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (header, data) = rest.split_once(',')?;
    let media_type = header.strip_suffix(";base64")?;
    (!media_type.is_empty()).then_some((media_type, data))
}

pub(crate) fn data_url(media_type: &str, data: &str) -> String {
    format!("data:{media_type};base64,{data}")
}

/// The image media types Anthropic and Converse accept, with Converse's `format` name.
pub(crate) fn image_format(media_type: &str) -> Option<&'static str> {
    match media_type {
        "image/png" => Some("png"),
        "image/jpeg" | "image/jpg" => Some("jpeg"),
        "image/gif" => Some("gif"),
        "image/webp" => Some("webp"),
        _ => None,
    }
}

/// The registered name of an image media type: `image/jpg`, which callers write and
/// `image_format` accepts, is `image/jpeg`, the only spelling Anthropic and Gemini take.
pub(crate) fn registered_image_type(media_type: &str) -> &str {
    if media_type == "image/jpg" {
        "image/jpeg"
    } else {
        media_type
    }
}

pub(crate) fn media_type_of_format(format: &str) -> Option<&'static str> {
    match format {
        "png" => Some("image/png"),
        "jpeg" => Some("image/jpeg"),
        "gif" => Some("image/gif"),
        "webp" => Some("image/webp"),
        _ => None,
    }
}

/// A Converse document name: Bedrock allows letters, digits, single spaces, hyphens, parentheses
/// and square brackets. The extension is left out (its dot is not allowed) and other characters
/// become hyphens; an unnamed document is called `document-<n>`, counted from 1 in the request.
pub(crate) fn converse_document_name(name: Option<&str>, number: usize) -> String {
    let stem = name
        .map(|n| n.rsplit_once('.').map_or(n, |(stem, _)| stem))
        .unwrap_or_default();
    let mut out = String::new();
    for c in stem.chars() {
        let c = if c.is_ascii_alphanumeric() || "-()[]".contains(c) {
            c
        } else if c == ' ' && !out.ends_with(' ') {
            ' '
        } else {
            '-'
        };
        out.push(c);
    }
    let out = out.trim().chars().take(200).collect::<String>();
    if out.is_empty() {
        format!("document-{number}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls_split_into_type_and_data() {
        assert_eq!(
            parse_data_url("data:image/png;base64,iVBOR"),
            Some(("image/png", "iVBOR"))
        );
        assert_eq!(parse_data_url("data:text/plain,hello"), None);
        assert_eq!(parse_data_url("https://x/y.png"), None);
    }

    #[test]
    fn document_names_fit_bedrock_charset() {
        assert_eq!(
            converse_document_name(Some("Q3 report.pdf"), 1),
            "Q3 report"
        );
        assert_eq!(converse_document_name(Some("a_b.c.pdf"), 1), "a-b-c");
        assert_eq!(converse_document_name(None, 2), "document-2");
    }
}
