//! The OpenAPI 3.1 description of the REST API, served at `/openapi.json`: the document's
//! frame here, its paths and schemas collected from the handlers' annotations.

use utoipa::OpenApi;

use super::error::ErrorBody;

/// The frame the handlers' paths are added to.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "audit trail API",
        description = "The audit trail: activity, per-record history and versions, restore, a dashboard."
    ),
    // Relative: the paths are the router's, wherever the app nests it, and this document
    // is served at its root (`<nest>/openapi.json`), against which clients resolve `.`.
    servers((url = ".", description = "where the app nests the router: this document's own folder")),
    components(schemas(ErrorBody))
)]
pub(super) struct ApiDoc;

/// The OpenAPI 3.1 document of the API that [`AuditApi::router`](super::AuditApi::router)
/// serves (and answers at `GET /openapi.json`), derived from the same handlers and
/// response types. Merge it into your own document or serialize it with `serde_json`.
///
/// ```
/// let doc = audit_seaorm::http::openapi();
/// assert!(doc.paths.paths.contains_key("/activity"));
/// ```
pub fn openapi() -> utoipa::openapi::OpenApi {
    super::handlers::routes().into_openapi()
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r);
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_and_every_operation_answers_json() {
        let doc = serde_json::to_value(super::openapi()).unwrap();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 10);
        for r in found {
            let name = r.strip_prefix("#/components/schemas/").unwrap();
            assert!(doc["components"]["schemas"][name].is_object(), "{r}");
        }
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for (method, op) in ops.as_object().unwrap() {
                let ok = &op["responses"]["200"]["content"]["application/json"];
                assert!(ok["schema"].is_object(), "{method} {path}");
                assert_eq!(
                    op["responses"]["403"]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path}"
                );
            }
        }
    }
}
