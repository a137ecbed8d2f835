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
#[utoipa::path(get, path = "/", tag = "page",
    responses((status = 200, description = "The search page", body = String, content_type = "text/html; charset=utf-8")))]
pub async fn index() -> Response {
    asset("text/html; charset=utf-8", INDEX)
}

/// Its script.
#[utoipa::path(get, path = "/assets/app.js", tag = "page",
    responses((status = 200, description = "The page's script", body = String, content_type = "text/javascript; charset=utf-8")))]
pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// Its style sheet.
#[utoipa::path(get, path = "/assets/style.css", tag = "page",
    responses((status = 200, description = "The page's style sheet", body = String, content_type = "text/css; charset=utf-8")))]
pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}
