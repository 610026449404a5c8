//! `hello_server`'s service, kept runtime-free (plain hyper types) so the tests and the
//! benchmarks can run the very same service on ciranda, Tokio and smol.

use http_body_util::{Either, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;

/// The response body: a fixed text, or the request's own body streamed back.
pub type HelloBody = Either<Full<Bytes>, Incoming>;

/// `GET /` → `200 Hello, world!`; `POST /echo` → `200` with the request body streamed back
/// as it arrives; anything else → `404`.
pub async fn hello(req: Request<Incoming>) -> Result<Response<HelloBody>, Infallible> {
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => Response::new(Either::Left(Full::new(Bytes::from_static(
            b"Hello, world!",
        )))),
        (&Method::POST, "/echo") => Response::new(Either::Right(req.into_body())),
        _ => {
            let mut not_found =
                Response::new(Either::Left(Full::new(Bytes::from_static(b"Not Found"))));
            *not_found.status_mut() = StatusCode::NOT_FOUND;
            not_found
        }
    })
}
