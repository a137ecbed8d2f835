//! `GET /`: the search page, plain HTML, CSS and JavaScript shipped inside
//! the binary (no build step). It posts a search, streams the offers as
//! they arrive, keeps them sorted by price, shows each airline's status,
//! and resumes the stream if it drops.

use axum::http::header;
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/style.css");

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The page.
pub async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

/// Its script.
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// Its style sheet.
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}
