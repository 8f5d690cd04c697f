// Package audit is sandgate's tamper-evident audit log: every access,
// allowed or denied, appended to JSON Lines files whatever the trace
// sampling says.
//
// Each record carries its sequence number and the SHA-256 of the previous
// record's canonical bytes (the line as written, without its newline), so
// an edited, deleted, reordered or truncated record breaks the chain where
// it happened. The chain continues across files: the first record of a file
// carries the hash of the last record of the file before it. Periodically,
// and when the log is closed, the writer appends a checkpoint record signed
// with a Tink ED25519 key, so the chain up to it cannot be rewritten
// wholesale by someone who can write the files but not the key.
// [Verify] walks a set of files and says where the chain broke.
//
// Durability is configurable: group commit (the default: records are
// written and fsynced together at most [DefaultGroupWindow] or
// [DefaultGroupMax] records after they were appended) or one fsync per
// record before [Log.Append] returns.
//
// A record holds identifiers (sandbox, user, relations, columns, rule ids),
// counts and decisions. It has no field for a value, a statement's literals,
// a URL path or query, or an error message: only an error class. The
// package sanitises the few free-form fields it has (destination, error
// class) so a caller's mistake does not put a raw value on disk.
//
// The package deliberately leaves out shipping records anywhere (a log
// collector reads the files), retention and deletion of old files, and
// storing the signing key in the clear: [NewSigningKey] and [LoadSigner]
// take a key-encryption AEAD such as pseudonymise.LocalMasterKey or
// pseudonymise.VaultMasterKey returns.
package audit
