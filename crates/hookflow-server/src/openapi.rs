//! The OpenAPI 3.1 document served at `/api/openapi.json`, generated from the routes and types:
//! each handler carries its operation (`#[utoipa::path]`, its doc comment the summary and
//! description), each request and answer type derives its schema, and [`crate::router`] and
//! [`document`] take the routes from the same lists ([`crate::routes`], [`crate::api::routes`]).
//! This module adds what no single handler owns (the info, the tags, the bearer scheme that the
//! management API's token layer enforces, the shared problem+json answers) and [`gaps`], the
//! check that every operation is described.

use std::sync::LazyLock;

use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr};
use utoipa::{OpenApi, ToSchema};

/// The name of the management API's security scheme.
const BEARER: &str = "bearerAuth";

/// RFC 9457 problem details: the body of every error answer (`application/problem+json`).
// The fields are in alphabetical order: the order the answer always had.
#[derive(Serialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemDocument<'a> {
    /// What was wrong and what was expected.
    pub detail: &'a str,
    /// A workflow document's validation errors (a 422 of `POST`/`PUT /api/v1/workflows`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<hookflow_core::workflow::ValidationError>>)]
    pub errors: Option<&'a Value>,
    pub status: u16,
    pub title: &'a str,
    /// A stable URI per kind of problem, e.g. `urn:hookflow:problem:unsupported-media-type`.
    #[serde(rename = "type")]
    pub kind: &'a str,
}

/// Declares problem+json answers of the document, each one's doc comment its description and
/// each with the status it is sent with. An operation lists them by name among its responses
/// (`responses((status = 200, ...), BadRequest, NotFound)`): each is an `IntoResponses` of its
/// one status, referring to the shared component.
macro_rules! problem_answers {
    ($($(#[$doc:meta])* $name:ident = $status:literal;)+) => {$(
        $(#[$doc])*
        #[derive(utoipa::ToResponse)]
        #[response(content_type = "application/problem+json")]
        #[allow(dead_code)]
        pub struct $name($crate::openapi::ProblemDocument<'static>);

        impl utoipa::IntoResponses for $name {
            fn responses() -> std::collections::BTreeMap<
                String,
                utoipa::openapi::RefOr<utoipa::openapi::response::Response>,
            > {
                $crate::openapi::refer_to::<$name>($status)
            }
        }
    )+};
}
pub(crate) use problem_answers;

/// The responses map of one shared answer `A` sent with `status`: a reference to its component.
pub(crate) fn refer_to<A: for<'r> utoipa::ToResponse<'r>>(
    status: u16,
) -> std::collections::BTreeMap<String, RefOr<utoipa::openapi::response::Response>> {
    let (name, _) = A::response();
    [(
        status.to_string(),
        RefOr::Ref(Ref::from_response_name(name)),
    )]
    .into()
}

problem_answers! {
    /// Malformed JSON, an unknown field, or a bad query parameter (`limit`, `cursor`, `status`).
    BadRequest = 400;
    /// Missing or wrong admin token.
    Unauthorized = 401;
    /// No such resource.
    NotFound = 404;
    /// The request body is larger than the API's limit.
    TooLarge = 413;
    /// A field has a value that is not allowed; `detail` says which and what is expected.
    Invalid = 422;
    /// The name is taken: names are unique.
    NameTaken = 409;
}

/// Declares the path parameters that name one thing (`{id}`, `{name}`), each one's doc comment
/// its description; an operation lists them in `params(...)`.
macro_rules! path_params {
    ($($(#[$doc:meta])* $name:ident { $field:ident };)+) => {$(
        #[derive(utoipa::IntoParams)]
        #[into_params(parameter_in = Path)]
        #[allow(dead_code)]
        pub struct $name {
            $(#[$doc])*
            $field: String,
        }
    )+};
}

path_params! {
    /// The webhook's id.
    WebhookPath { id };
    /// The event's id or name.
    EventPath { id };
    /// The workflow's id or name.
    WorkflowPath { id };
    /// The workflow's id or name (a deleted workflow's id while runs refer to its versions).
    VersionsPath { id };
    /// The run's id.
    RunPath { id };
    /// The delivery's id.
    DeliveryPath { id };
    /// The delivery id (the `X-Delivery-Id` of the 202).
    ReceivedPath { id };
    /// Letters, digits and `_`, not starting with a digit (workflows read it as `secrets.<name>`).
    SecretPath { name };
}

/// What no handler owns: the document's info, its tags and the shared answers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "hookflow",
        version = env!("CARGO_PKG_VERSION"),
        description = "Receives webhooks, records every request durably before answering 202, \
            and records every rejection with its reason. The management API under `/api/v1` \
            needs `Authorization: Bearer <admin token>`; `/webhooks/{id}`, `/healthz`, \
            `/metrics` and `/api/openapi.json` do not. Every error answer is \
            `application/problem+json` (RFC 9457). List calls answer `{items, next_cursor}`, \
            newest first.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    servers((url = "/")),
    tags(
        (name = "ingest", description = "Receiving webhooks (SPEC §2)."),
        (name = "webhooks", description = "Managing webhooks."),
        (name = "deliveries", description = "What each webhook received, accepted or rejected, and why."),
        (name = "events", description = "Webhook events (with an optional filter) and schedule events."),
        (name = "workflows", description = "Workflows, their versions and manual runs."),
        (name = "runs", description = "Workflow runs and their steps."),
        (name = "secrets", description = "Write-only secret values that workflows read."),
        (name = "operations", description = "Health, metrics and this document; no token needed."),
    ),
    components(responses(
        BadRequest,
        Unauthorized,
        NotFound,
        TooLarge,
        Invalid,
        NameTaken,
        crate::api::workflows::NotJsonOrYaml,
        crate::api::workflows::UnreadableDocument,
    ))
)]
struct Base;

/// The document of every route [`crate::router`] serves.
pub fn document() -> Document {
    let (_, root) = crate::routes().split_for_parts();
    let (_, mut api) = crate::api::routes().split_for_parts();
    // Every management call passes the token layer (`api::require_token`): each operation needs
    // the bearer token and may be answered 401.
    for item in api.paths.paths.values_mut() {
        for op in operations(item) {
            op.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
            op.responses
                .responses
                .entry("401".to_string())
                .or_insert_with(|| RefOr::Ref(Ref::from_response_name("Unauthorized")));
        }
    }
    let mut doc = Base::openapi().merge_from(root).nest("/api/v1", api);
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "The admin token (`HOOKFLOW_ADMIN_TOKEN`, or the one printed on first start).",
                ))
                .build(),
        ),
    );
    doc
}

/// [`document`] as JSON, made once: it is a constant of the code, like the routes it describes.
pub fn json() -> &'static str {
    static JSON: LazyLock<String> = LazyLock::new(|| {
        document()
            .to_json()
            .expect("the OpenAPI document serialises")
    });
    &JSON
}

fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = &mut utoipa::openapi::path::Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// The HTTP methods a path item may hold operations under.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// What is not described in the OpenAPI document `doc`, one line each: an operation without a
/// summary or without an `operationId` (or one used twice), a parameter or a response without a
/// description. Empty when every operation is documented.
pub fn gaps(doc: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    let text = |v: &Value| v.as_str().is_some_and(|s| !s.trim().is_empty());
    let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
        return vec!["the document has no paths".into()];
    };
    for (path, item) in paths {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let at = format!("{} {path}", method.to_uppercase());
            if !text(&op["summary"]) {
                out.push(format!("{at}: no summary (the handler's doc comment)"));
            }
            match op["operationId"].as_str() {
                Some(id) if !id.is_empty() => {
                    if !ids.insert(id.to_string()) {
                        out.push(format!("{at}: operationId {id} is used twice"));
                    }
                }
                _ => out.push(format!("{at}: no operationId")),
            }
            let params = op["parameters"].as_array().into_iter().flatten();
            for p in params.filter(|p| p["in"] != "path") {
                if !text(&p["description"]) {
                    out.push(format!("{at}: parameter {} has no description", p["name"]));
                }
            }
            match op["responses"].as_object() {
                Some(r) if !r.is_empty() => {
                    for (code, answer) in r {
                        let described = text(&answer["description"])
                            || answer["$ref"]
                                .as_str()
                                .and_then(|r| r.strip_prefix('#'))
                                .and_then(|p| doc.pointer(p))
                                .is_some_and(|a| text(&a["description"]));
                        if !described {
                            out.push(format!("{at}: response {code} has no description"));
                        }
                    }
                }
                _ => out.push(format!("{at}: no responses")),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa_axum::router::OpenApiRouter;
    use utoipa_axum::routes;

    #[utoipa::path(get, path = "/described", operation_id = "described",
        responses((status = 200, description = "Described.")))]
    /// A described operation.
    async fn described() {}

    #[utoipa::path(get, path = "/undescribed", responses((status = 200, description = "")))]
    async fn undescribed() {}

    fn doc_of(router: OpenApiRouter) -> Value {
        serde_json::to_value(router.into_openapi()).expect("serialises")
    }

    #[test]
    fn the_served_document_has_no_gaps() {
        let doc: Value = serde_json::from_str(json()).expect("JSON");
        assert_eq!(gaps(&doc), Vec::<String>::new());
    }

    #[test]
    fn a_described_operation_has_no_gaps() {
        let doc = doc_of(OpenApiRouter::new().routes(routes!(described)));
        assert_eq!(gaps(&doc), Vec::<String>::new());
    }

    #[test]
    fn an_operation_without_a_doc_comment_is_reported() {
        let doc = doc_of(
            OpenApiRouter::new()
                .routes(routes!(described))
                .routes(routes!(undescribed)),
        );
        let found = gaps(&doc);
        assert!(
            found.contains(&"GET /undescribed: no summary (the handler's doc comment)".into()),
            "{found:?}"
        );
        assert!(
            found.contains(&"GET /undescribed: response 200 has no description".into()),
            "{found:?}"
        );
        assert!(
            found.iter().all(|g| g.starts_with("GET /undescribed")),
            "{found:?}"
        );
    }

    #[test]
    fn an_operation_id_used_twice_is_reported() {
        let mut doc = doc_of(OpenApiRouter::new().routes(routes!(described)));
        doc["paths"]["/described"]["post"] = doc["paths"]["/described"]["get"].clone();
        assert_eq!(
            gaps(&doc),
            vec!["POST /described: operationId described is used twice".to_string()]
        );
    }
}
