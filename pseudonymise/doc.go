// Package pseudonymise transforms single field values so that a sandboxed
// prototype can work with patient data without seeing identifiers.
//
// Every transform runs in a [Context]: a sandbox (or a link group standing in
// for it) and, fixed when the transform is built, an identifier domain such as
// nhs_number, patient_id, mrn or email. Within one scope the same input in the
// same domain always gives the same output, across tables, sessions and
// replicas, so joins still work; across scopes the outputs are unrelated.
//
// Transforms, by the name a policy uses for them ([Spec].Name):
//
//   - token: reversible. Tink Deterministic AEAD (AES256-SIV) with associated
//     data binding scope and domain; output "tok_" + lower-case base32 of the
//     Tink ciphertext, which carries the key id. Only [Engine.Reveal] turns a
//     token back, and only in the scope and domain that made it.
//   - pseudonym: one-way. HMAC-SHA256 under a per-(scope, domain) subkey that
//     the Tink PRF keyset derives once; at least 128 bits kept.
//   - nhs_number: format-preserving. A valid NHS number maps to a valid NHS
//     number through a keyed permutation (NIST SP 800-38G FF1, radix 10, over
//     the nine-digit body, cycle-walking past bodies whose modulus-11 check
//     digit would be 10). digits does the same for other fixed-length numeric
//     identifiers.
//   - date_shift: moves a date or timestamp by a per-subject number of days
//     within ±max_days, derived from the subject's identifier, so intervals
//     within one patient's record survive.
//   - generalise: date to year or month, date of birth to age band (90+
//     capped), UK postcode to outward code or sector, number to bucket.
//   - mask, redact, and synthetic (a hook for a [Synthesiser]).
//
// # Values and NULL
//
// Values are the text wire form of a PostgreSQL value. SQL NULL is carried
// beside the bytes as a bool: [Transform.Apply] takes (in, inNull) and returns
// (out, outNull). The output is appended to dst, so a caller that reuses its
// buffer pays at most one allocation per field on the hot paths.
//
// # Keys and rotation
//
// [Keys] holds two Tink keysets, stored only encrypted under a key-encryption
// key from a local master-key file (development, [LocalMasterKey]) or Vault
// Transit (production, [VaultMasterKey]): an AES256-SIV keyset for tokens and
// an HMAC-SHA256 PRF keyset for everything else that is keyed. [Keys.Rotate]
// adds a new primary token key and keeps the old ones, so every token issued
// before stays revealable (the key id is in the token); new tokens for the
// same value differ from old ones. Rotating the pseudonym keyset
// (RotatePseudonyms) is a deliberate re-pseudonymisation: pseudonyms,
// nhs_number and digits outputs, date shifts and synthetic choices all change,
// and nothing links the old outputs to the new ones. One-way outputs cannot be
// reversed under any key.
//
// # What this package leaves out
//
// It knows nothing of SQL, the wire protocol, policy files or the network
// (Vault aside, which only unwraps the keysets at start-up). It does not decide
// which column gets which transform, it does not generate synthetic values
// itself, and it never logs or returns field values or key material in errors.
package pseudonymise
