//! Embeddings of text: the model's final hidden states (after the output norm), mean-pooled
//! over the tokens. `/api/embed` L2-normalizes them; the legacy `/api/embeddings` does not.

use rollama_engine::model::Model;

use super::error::ApiError;

/// The embedding of `text` and the number of tokens it used. An input longer than the
/// model's context is cut to fit when `truncate`, and is an error otherwise.
pub fn embedding(model: &dyn Model, text: &str, truncate: bool) -> Result<(Vec<f32>, usize), ApiError> {
    let mut tokens = model.tokenizer().encode(text, true, true);
    let n_ctx = model.hparams().n_ctx_train;
    if tokens.len() > n_ctx {
        if !truncate {
            return Err(ApiError::bad_request("the input length exceeds the context length"));
        }
        tokens.truncate(n_ctx);
    }
    if tokens.is_empty() {
        return Err(ApiError::bad_request("the input is empty"));
    }
    let v = model.embed(&tokens)?;
    Ok((v, tokens.len()))
}

/// Scales `v` to unit length (a zero vector stays zero).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    if norm > 0.0 {
        for x in v.iter_mut() {
            *x = (f64::from(*x) / norm) as f32;
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn normalize_gives_unit_length() {
        let mut v = vec![3.0, 4.0];
        super::normalize(&mut v);
        assert_eq!(v, vec![0.6, 0.8]);
        let mut z = vec![0.0; 3];
        super::normalize(&mut z);
        assert_eq!(z, vec![0.0; 3]);
    }
}
