//! API errors: one type carrying the HTTP status and the message, mapped from the engine's
//! typed errors in one place, and rendered as Ollama renders them: `{"error": "..."}`.

use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into() }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, message)
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(500, message)
    }
    /// Ollama's wording for a model that is not in the store.
    pub fn model_not_found(name: &str) -> ApiError {
        ApiError::not_found(format!("model '{name}' not found"))
    }
    pub fn body(&self) -> Value {
        json!({ "error": self.message })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<rollama_engine::model::ModelError> for ApiError {
    fn from(e: rollama_engine::model::ModelError) -> ApiError {
        use rollama_engine::model::ModelError as M;
        match e {
            M::TokenOutOfRange { .. } | M::ContextTooLarge { .. } => ApiError::bad_request(e.to_string()),
            _ => ApiError::internal(e.to_string()),
        }
    }
}
