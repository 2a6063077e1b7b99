//! The fetcher's checks that need no server: media types, signatures, URLs refused before any
//! connection, and the default policy refusing the host itself.

use std::time::Duration;

use sy_config::ImageSettings;
use sy_dialect::canonical::Request;

use super::*;

#[test]
fn only_the_four_image_types_are_taken() {
    assert_eq!(image_type("image/png"), Some("image/png"));
    assert_eq!(image_type("IMAGE/JPEG; charset=binary"), Some("image/jpeg"));
    assert_eq!(image_type(" image/gif "), Some("image/gif"));
    assert_eq!(image_type("image/webp"), Some("image/webp"));
    for other in [
        "image/svg+xml",
        "text/html",
        "application/octet-stream",
        "",
        "image/png2",
    ] {
        assert_eq!(image_type(other), None, "{other}");
    }
}

#[test]
fn signatures_tell_the_type() {
    assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
    assert_eq!(sniff(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
    assert_eq!(sniff(b"GIF89a..."), Some("image/gif"));
    assert_eq!(sniff(b"GIF87a..."), Some("image/gif"));
    assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
    assert_eq!(sniff(b"RIFF\0\0\0\0WAVE"), None);
    assert_eq!(sniff(b"<html>"), None);
    assert_eq!(sniff(b""), None);
}

fn request_with(urls: &[&str]) -> Request {
    let content: Vec<serde_json::Value> = urls
        .iter()
        .map(|url| serde_json::json!({"type": "image_url", "image_url": {"url": url}}))
        .collect();
    let body =
        serde_json::json!({"model": "m", "messages": [{"role": "user", "content": content}]});
    sy_dialect::openai_chat::decode_request(body.to_string().as_bytes())
        .unwrap()
        .request
}

fn settings() -> ImageSettings {
    ImageSettings {
        fetch_urls: true,
        max_bytes: 1024,
        timeout: Duration::from_secs(2),
    }
}

async fn refusal(url: &str) -> String {
    let fetcher = ImageFetcher::public().unwrap();
    let mut request = request_with(&[url]);
    let error = inline_url_images(&mut request, &settings(), &fetcher)
        .await
        .unwrap_err();
    assert_eq!(error.status(), 400, "{error:?}");
    error.message.clone()
}

#[tokio::test]
async fn urls_other_than_https_are_refused_before_any_connection() {
    let message = refusal("http://example.com/cat.png").await;
    assert!(message.contains("only https://"), "{message}");
    assert!(message.contains("`example.com`"), "{message}");
    assert!(message.contains("messages[0].content[0]"), "{message}");
    for url in [
        "ftp://example.com/cat.png",
        "file:///etc/passwd",
        "not a url",
    ] {
        let message = refusal(url).await;
        assert!(message.contains("cannot be fetched"), "{url}: {message}");
    }
    let message = refusal("https://user:pw@example.com/cat.png").await;
    assert!(message.contains("credentials"), "{message}");
}

#[tokio::test]
async fn the_default_policy_refuses_the_host_itself_and_private_networks() {
    for url in [
        "https://127.0.0.1/cat.png",
        "https://localhost:8443/cat.png",
        "https://[::1]/cat.png",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/cat.png",
        "https://[::ffff:192.168.1.1]/cat.png",
    ] {
        let message = refusal(url).await;
        assert!(message.contains("not a public address"), "{url}: {message}");
    }
}

#[tokio::test]
async fn too_many_images_are_refused_without_fetching() {
    let urls = vec!["https://127.0.0.1/cat.png"; MAX_IMAGES + 1];
    let fetcher = ImageFetcher::public().unwrap();
    let mut request = request_with(&urls);
    let error = inline_url_images(&mut request, &settings(), &fetcher)
        .await
        .unwrap_err();
    assert!(error.message.contains("at most 16"), "{}", error.message);
}
