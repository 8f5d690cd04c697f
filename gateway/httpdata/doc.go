// Package httpdata is sandgate's data proxy for HTTP JSON sources such as a
// FHIR server: a per-sandbox reverse proxy (net/http/httputil.ReverseProxy)
// that rewrites every response body field by field before the sandbox sees
// it, with the same transforms as the SQL side (package pseudonymise).
//
// # Field rules and the fail-closed default
//
// A [FieldRule] names a path relative to a resource — "Patient.birthDate",
// "*.address.postalCode", "Patient.identifier[system=https://fhir.nhs.uk/Id/nhs-number].value",
// "$.results.code" for a non-FHIR top-level object — and says keep, drop or
// transform. Arrays are transparent in paths. A JSON object whose first
// member is "resourceType" starts a new resource (a Bundle entry, a
// contained resource), and paths restart at its type.
//
// Fields that no rule names are dropped: the resource still passes, with
// only its resourceType and the fields the policy names. A rule on a
// container applies to everything inside it unless a deeper rule says
// otherwise. Some paths are protected whatever the rules say: identifier
// values, the names of people (Patient, RelatedPerson, Person,
// Practitioner, Patient.contact), birthDate, any address, telecom or photo,
// and narrative (text.div) are never passed raw — "keep" there is treated
// as drop, and only a transform lets them through, transformed.
//
// A response whose Content-Type is not JSON (application/json,
// application/fhir+json or another +json type), which is compressed, which
// is not valid JSON, or which has "resourceType" anywhere but first in an
// object the rewrite walks into is refused (parts no rule names are skipped
// unread and never reach the client). The rewrite streams through encoding/json's tokenizer:
// a Bundle is never held whole in memory. Only identifier-like array
// elements that a predicate rule ([system=…]) must look into are buffered,
// each up to Config.MaxElementBytes. A failure after the first bytes were
// sent aborts the response (the client sees a truncated body, never a raw
// value).
//
// # What this package leaves out
//
// It authenticates nobody: mount one [Proxy] per sandbox behind the
// caller's authentication. It forwards only GET and HEAD, with no request
// body and only Accept and the query string of the request, and it does not
// translate tokens in queries back to real values (search by pseudonymised
// identifier is not supported). date_shift, which needs each subject's
// identifier beside the date, is not offered. Upstream response headers
// other than Content-Type, Cache-Control, Date and Vary are dropped.
package httpdata
