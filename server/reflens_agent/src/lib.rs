//! `reflens_agent._native`: the Rust half of the live-session agent.
//!
//! - The protocol: requests are decoded, and responses and events encoded, through the
//!   `reflens_protocol` types the server uses too, so the two sides cannot drift apart.
//! - The heap: one walk of every object reachable from the gc roots (tracked or not) builds an
//!   index that answers referrers, root chains, sizes, cycles, growth and garbage queries
//!   (`heap.rs` and the modules it uses).
//!
//! The Python half (`python/reflens_agent/`) runs the user's program, pauses it at probes and
//! carries messages; everything that walks or describes the object graph is here.

mod convert;
mod describe;
mod dominators;
mod evaluate;
mod garbage;
mod growth;
mod heap;
mod index;
mod known;
mod raw;
mod walk;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use reflens_protocol::{
    ErrorBody, ErrorCode, Event, Message, Outcome, PROTOCOL_VERSION, Request, Response,
};

use crate::convert::{json_to_py, py_to_json};

/// Decodes one request line into `{"id": ..., "method": ..., "params": {...}}`, checked
/// against the protocol's types. Raises `ValueError` with the reason for a bad line.
#[pyfunction]
fn decode_request<'py>(py: Python<'py>, line: &str) -> PyResult<Bound<'py, PyAny>> {
    let request: Request = serde_json::from_str(line)
        .map_err(|err| PyValueError::new_err(format!("bad request: {err}")))?;
    let value =
        serde_json::to_value(&request).map_err(|err| PyValueError::new_err(err.to_string()))?;
    json_to_py(py, &value)
}

/// Encodes a successful response; `result` is any JSON-like Python value.
#[pyfunction]
fn encode_response(id: u64, result: &Bound<'_, PyAny>) -> PyResult<String> {
    let message = Message::Response(Response {
        id,
        outcome: Outcome::Result(py_to_json(result)?),
    });
    Ok(reflens_protocol::to_line(&message))
}

/// Encodes a successful response whose result is already JSON text (from the heap index).
#[pyfunction]
fn encode_response_json(id: u64, result: &str) -> PyResult<String> {
    let value: serde_json::Value = serde_json::from_str(result)
        .map_err(|err| PyValueError::new_err(format!("bad result JSON: {err}")))?;
    Ok(reflens_protocol::to_line(&Message::Response(Response {
        id,
        outcome: Outcome::Result(value),
    })))
}

/// Encodes an error response. `code` is one of the protocol's error codes (`notFound`, ...).
#[pyfunction]
fn encode_error(id: u64, code: &str, message: &str) -> PyResult<String> {
    let code: ErrorCode = serde_json::from_value(serde_json::Value::String(code.to_owned()))
        .map_err(|_| PyValueError::new_err(format!("unknown error code `{code}`")))?;
    let message = Message::Response(Response {
        id,
        outcome: Outcome::Error(ErrorBody {
            code,
            message: message.to_owned(),
        }),
    });
    Ok(reflens_protocol::to_line(&message))
}

/// Encodes an event (`{"event": "state", "state": "paused", ...}`), checked against the
/// protocol's types.
#[pyfunction]
fn encode_event(event: &Bound<'_, PyAny>) -> PyResult<String> {
    let value = py_to_json(event)?;
    let event: Event = serde_json::from_value(value)
        .map_err(|err| PyValueError::new_err(format!("bad event: {err}")))?;
    Ok(reflens_protocol::to_line(&Message::Event(event)))
}

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("PROTOCOL_VERSION", PROTOCOL_VERSION)?;
    module.add_function(wrap_pyfunction!(decode_request, module)?)?;
    module.add_function(wrap_pyfunction!(encode_response, module)?)?;
    module.add_function(wrap_pyfunction!(encode_response_json, module)?)?;
    module.add_function(wrap_pyfunction!(encode_error, module)?)?;
    module.add_function(wrap_pyfunction!(encode_event, module)?)?;
    heap::register(module)?;
    Ok(())
}
