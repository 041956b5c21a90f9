//! What every operation of the API answers besides its own responses, added to the OpenAPI
//! document once: the `x-request-id` header on every answer, `Retry-After` on 429 and 503,
//! and the 500 and 503 problem answers any operation can give.

use utoipa::Modify;
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

const REQUEST_ID: &str = "RequestId";
const RETRY_AFTER: &str = "RetryAfter";

/// Adds the common answers to every operation (run after every path is in the document).
pub struct CommonAnswers;

impl Modify for CommonAnswers {
    fn modify(&self, api: &mut OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.headers.insert(
            REQUEST_ID.to_owned(),
            HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .description(Some("The request's id; the server's log lines of this request carry it too"))
                .build()
                .into(),
        );
        components.headers.insert(
            RETRY_AFTER.to_owned(),
            HeaderBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(0))))
                .description(Some("Seconds to wait before trying again"))
                .build()
                .into(),
        );
        let problem = || ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build();
        components.responses.insert(
            "InternalError".to_owned(),
            ResponseBuilder::new()
                .description("Something failed inside the server (`internal_error`); the log has the cause under the request id")
                .header_ref("x-request-id", Ref::new(header_ref(REQUEST_ID)))
                .content("application/problem+json", problem())
                .build()
                .into(),
        );
        components.responses.insert(
            "Unavailable".to_owned(),
            ResponseBuilder::new()
                .description(
                    "The database cannot be reached or is busy (`unavailable`); try again after Retry-After",
                )
                .header_ref("x-request-id", Ref::new(header_ref(REQUEST_ID)))
                .header_ref("Retry-After", Ref::new(header_ref(RETRY_AFTER)))
                .content("application/problem+json", problem())
                .build()
                .into(),
        );
        for item in api.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.patch,
                &mut item.delete,
                &mut item.head,
                &mut item.options,
            ];
            for operation in operations.into_iter().flatten() {
                add_to(operation);
            }
        }
    }
}

fn header_ref(name: &str) -> String {
    format!("#/components/headers/{name}")
}

fn add_to(operation: &mut Operation) {
    for (status, response) in operation.responses.responses.iter_mut() {
        if let RefOr::T(response) = response {
            response.headers.insert("x-request-id".to_owned(), RefOr::Ref(Ref::new(header_ref(REQUEST_ID))));
            if status == "429" {
                response
                    .headers
                    .insert("Retry-After".to_owned(), RefOr::Ref(Ref::new(header_ref(RETRY_AFTER))));
            }
        }
    }
    let responses = &mut operation.responses.responses;
    responses.entry("500".to_owned()).or_insert_with(|| RefOr::Ref(Ref::from_response_name("InternalError")));
    responses.entry("503".to_owned()).or_insert_with(|| RefOr::Ref(Ref::from_response_name("Unavailable")));
}
