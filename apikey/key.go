// Package apikey owns the workspace API keys of the Nextoria Hub REST API:
// what a key looks like, how it is made and checked, and how it is created,
// listed, revoked and looked up.
//
// A key is the prefix "nxh_", 43 base62 characters carrying 256 random bits,
// and 6 base62 characters of CRC-32 checksum over the rest, e.g.
//
//	nxh_ukmov5UiaP4cfy7SJT94ztRISoFrrdUKTquxIMqJTXr0jO8uv
//
// The fixed prefix lets secret scanners find leaked keys (Pattern), and the
// checksum lets Parse reject a mistyped or truncated key without a database
// lookup. Only a keyed hash of a key is ever stored; the key itself is shown
// once, when it is created. A short display id (the prefix and the first
// eight random characters) is stored in clear so that people can tell their
// keys apart.
package apikey

import "github.com/nextoria/authz/apikey/internal/keyformat"

// Prefix starts every API key.
const Prefix = keyformat.Prefix

// Len is the length of every API key.
const Len = keyformat.Len

// Pattern is a regular expression matching API keys, for secret scanners.
const Pattern = keyformat.Pattern

// Errors of Parse. Their messages never contain the key.
var (
	// ErrMalformed means the text cannot be an API key: wrong prefix, wrong
	// length, or a character outside base62.
	ErrMalformed = keyformat.ErrMalformed
	// ErrChecksum means the text has the shape of a key but its checksum does
	// not match: it was mistyped, truncated and padded, or made up.
	ErrChecksum = keyformat.ErrChecksum
)

// Parsed is an API key that passed Parse: Key is the whole key, DisplayID
// the non-secret identifier shown in lists, e.g. "nxh_ukmov5Ui".
type Parsed = keyformat.Parsed

// Format is the shape of a key (prefix, 256 random bits in base62, CRC-32
// checksum), for other credentials that secret scanners should find, each
// with its own prefix.
type Format = keyformat.Format

// New returns a fresh API key with 256 bits from the system CSPRNG.
func New() (string, error) { return keyformat.New() }

// Parse checks that s is a well-formed API key with a valid checksum. It
// returns an error wrapping ErrMalformed or ErrChecksum otherwise. A key that
// parses may still be unknown, revoked or expired: only the database knows.
func Parse(s string) (Parsed, error) { return keyformat.Parse(s) }
