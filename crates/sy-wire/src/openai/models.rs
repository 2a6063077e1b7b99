//! `GET /v1/models`: the model names clients may ask for.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct ModelList<'a> {
    pub object: &'static str,
    pub data: Vec<ModelEntry<'a>>,
}

#[derive(Debug, Serialize)]
pub struct ModelEntry<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub owned_by: &'a str,
}

impl<'a> ModelList<'a> {
    pub fn new(entries: impl IntoIterator<Item = (&'a str, &'a str)>, created: u64) -> Self {
        Self {
            object: "list",
            data: entries
                .into_iter()
                .map(|(id, owned_by)| ModelEntry {
                    id,
                    object: "model",
                    created,
                    owned_by,
                })
                .collect(),
        }
    }
}
