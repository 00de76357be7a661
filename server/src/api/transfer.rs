//! `POST /api/pull` and `POST /api/push`: the registry client of `rollama_engine::registry`,
//! its statuses streamed as NDJSON (or only the last one with `stream: false`).

use rollama_engine::registry::{self, Credentials, Options, RegistryError, Status};
use rollama_engine::store::{Name, Store};
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::generate::str_field;
use super::http::{LineSink, Reply, Request};
use super::models::parse_name;
use super::AppState;

type Transfer = fn(&Store, &Name, &Options, &mut dyn FnMut(Status)) -> Result<(), RegistryError>;

pub fn pull(state: &AppState, req: &mut Request) -> Result<Reply, ApiError> {
    transfer(state, req, registry::pull, false)
}

pub fn push(state: &AppState, req: &mut Request) -> Result<Reply, ApiError> {
    transfer(state, req, registry::push, true)
}

fn transfer(state: &AppState, req: &mut Request, run: Transfer, is_push: bool) -> Result<Reply, ApiError> {
    let body: Map<String, Value> = req.json()?;
    let name = str_field(&body, "model")?.filter(|n| !n.is_empty()).or(str_field(&body, "name")?).unwrap_or("");
    let name = parse_name(name)?;
    let stream = body.get("stream").and_then(Value::as_bool).unwrap_or(true);
    let options = Options {
        insecure: body.get("insecure").and_then(Value::as_bool).unwrap_or(false),
        credentials: Credentials::from_env(),
    };
    let store = state.store.clone();
    let error = |e: RegistryError| ApiError::new(e.http_status(), e.to_string());
    // What can be known before a request is answered with a status, not a failing stream.
    if is_push && store.resolve(&name)?.is_none() {
        return Err(ApiError::model_not_found(&name.display_shortest()));
    }
    registry::check(&name, &options).map_err(error)?;
    if stream {
        Ok(Reply::Stream(Box::new(move |sink: &mut dyn LineSink| {
            // A client that goes away does not stop the transfer: what it fetched is kept for
            // the next pull, which may be another client's waiting on this one.
            let result = run(&store, &name, &options, &mut |s| {
                sink.send(&serde_json::to_value(&s).unwrap_or(Value::Null));
            });
            if let Err(e) = result {
                sink.send(&error(e).body());
            }
        })))
    } else {
        Ok(Reply::Later(Box::new(move || {
            let mut last = Status::new("");
            match run(&store, &name, &options, &mut |s| last = s) {
                Ok(()) => Reply::Json(200, serde_json::to_value(&last).unwrap_or_else(|_| json!({}))),
                Err(e) => {
                    let e = error(e);
                    Reply::Json(e.status, e.body())
                }
            }
        })))
    }
}
