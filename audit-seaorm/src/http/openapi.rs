//! The OpenAPI 3.1 description of the REST API, served at `/openapi.json`.

use serde_json::{Value, json};

/// The routes the router serves, as (method, path): the description lists exactly these.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/activity"),
    ("get", "/subjects/{subject_type}/{subject_id}"),
    ("get", "/versions/{subject_type}/{subject_id}"),
    ("post", "/versions/{version_id}/restore"),
    ("get", "/dashboard"),
    ("get", "/openapi.json"),
];

fn query(name: &str, schema: Value, description: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema, "description": description})
}

fn path(name: &str, schema: Value) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": schema})
}

fn errors() -> Value {
    let e = json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    json!({"400": e, "403": e, "404": e, "405": e, "409": e, "413": e, "415": e, "500": e})
}

fn ok(description: &str, schema: Value) -> Value {
    let mut responses = errors();
    responses["200"] =
        json!({"description": description, "content": {"application/json": {"schema": schema}}});
    responses
}

/// The document.
pub fn document() -> Value {
    let string = json!({"type": "string"});
    let time = json!({"type": "string", "format": "date-time"});
    let entries = json!({"type": "array", "items": {"$ref": "#/components/schemas/ActivityEntry"}});
    json!({
        "openapi": "3.1.0",
        "info": {"title": "audit trail API", "version": env!("CARGO_PKG_VERSION")},
        "servers": [{"url": "/api/audit", "description": "where the app nests the router"}],
        "paths": {
            "/activity": {"get": {
                "summary": "Filtered, paginated activity (newest first)",
                "parameters": [
                    query("subject_type", string.clone(), "subject type"),
                    query("subject_id", string.clone(), "subject id"),
                    query("causer_id", string.clone(), "who caused it"),
                    query("action", string.clone(), "created, updated, deleted, restored or custom"),
                    query("request_id", string.clone(), "entries of one request"),
                    query("since", time.clone(), "at or after (RFC 3339)"),
                    query("until", time.clone(), "before (RFC 3339)"),
                    query("limit", json!({"type": "integer", "minimum": 0}), "page size, capped at 500"),
                    query("offset", json!({"type": "integer", "minimum": 0}), "entries to skip"),
                    query("after_id", json!({"type": "integer"}), "keyset cursor: the previous page's next_cursor"),
                    query("order", json!({"enum": ["newest_first", "oldest_first"]}), "listing order"),
                ],
                "responses": ok("a page", json!({"type": "object", "properties": {
                    "items": entries, "next_cursor": {"type": ["integer", "null"]}, "limit": {"type": "integer"}}})),
            }},
            "/subjects/{subject_type}/{subject_id}": {"get": {
                "summary": "A record's full history, oldest first, in pages",
                "parameters": [path("subject_type", string.clone()), path("subject_id", string.clone()),
                    query("limit", json!({"type": "integer", "minimum": 0}), "page size, capped at 500"),
                    query("after_id", json!({"type": "integer"}), "the previous page's next_cursor")],
                "responses": ok("the history", json!({"type": "object", "properties": {"items": entries,
                    "next_cursor": {"type": ["integer", "null"]}, "limit": {"type": "integer"}}})),
            }},
            "/versions/{subject_type}/{subject_id}": {"get": {
                "summary": "A record's snapshots, version 1 first, in pages",
                "parameters": [path("subject_type", string.clone()), path("subject_id", string.clone()),
                    query("limit", json!({"type": "integer", "minimum": 0}), "page size, capped at 500"),
                    query("after_id", json!({"type": "integer"}), "the previous page's next_cursor")],
                "responses": ok("the versions", json!({"type": "object", "properties": {
                    "items": {"type": "array", "items": {"$ref": "#/components/schemas/Version"}},
                    "next_cursor": {"type": ["integer", "null"]}, "limit": {"type": "integer"}}})),
            }},
            "/versions/{version_id}/restore": {"post": {
                "summary": "Restore a version (registered types) or get the data to re-apply",
                "parameters": [path("version_id", json!({"type": "integer"}))],
                "description": "Needs the Read and Restore permissions and `Content-Type: application/json` (the body may be empty); 415 otherwise.",
                "requestBody": {"required": false, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"reason": {"type": "string"}}, "additionalProperties": false}}}},
                "responses": ok("restored, or the data", json!({"type": "object", "properties": {
                    "restored": {"type": "boolean"},
                    "version": {"$ref": "#/components/schemas/Version"},
                    "record": {"type": "object"},
                    "data": {"type": "object"}}})),
            }},
            "/dashboard": {"get": {
                "summary": "Recent activity and counts per action and subject type over a window",
                "parameters": [
                    query("window_hours", json!({"type": "integer", "minimum": 1, "maximum": 8760}), "default 24"),
                    query("limit", json!({"type": "integer", "minimum": 0}), "recent entries, default 20"),
                ],
                "responses": ok("the dashboard", json!({"type": "object"})),
            }},
            "/openapi.json": {"get": {
                "summary": "This description",
                "responses": {"200": {"description": "OpenAPI 3.1 document"}},
            }},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
                "code": {"type": "string"}, "message": {"type": "string"}}}}},
            "ActivityEntry": {"type": "object", "properties": {
                "id": {"type": "integer"}, "action": string, "subject_type": string, "subject_id": string,
                "causer_id": {"type": ["string", "null"]},
                "changes": {"type": "object", "additionalProperties": {"type": "object", "properties": {"old": {}, "new": {}}}},
                "properties": {"type": ["object", "null"]}, "ip": {"type": ["string", "null"]},
                "user_agent": {"type": ["string", "null"]}, "request_id": {"type": ["string", "null"]},
                "version_id": {"type": ["integer", "null"]}, "created_at": time}},
            "Version": {"type": "object", "properties": {
                "id": {"type": "integer"}, "subject_type": string, "subject_id": string,
                "version": {"type": "integer"}, "event": string, "data": {"type": "object"},
                "causer_id": {"type": ["string", "null"]}, "created_at": time}},
        }},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_lists_exactly_the_routes() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        let mut listed: Vec<(String, String)> = paths
            .iter()
            .flat_map(|(p, ops)| {
                ops.as_object()
                    .unwrap()
                    .keys()
                    .map(move |m| (m.clone(), p.clone()))
            })
            .collect();
        listed.sort();
        let mut routes: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        routes.sort();
        assert_eq!(listed, routes);
    }
}
