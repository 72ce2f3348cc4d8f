// Package keyformat owns the text of a workspace API key: how one is made
// and how Parse tells a well-formed key from a typo without a database
// lookup. Package apikey re-exports it; it lives apart so that fuzzing it
// does not instrument the storage stack apikey depends on.
package keyformat

import (
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"math/big"
	"strings"
)

// Prefix starts every API key.
const Prefix = "nxh_"

// Lengths of a key's parts, in characters.
const (
	randomLen   = 43 // base62 of 256 bits: 62^43 > 2^256
	checksumLen = 6  // base62 of a CRC-32: 62^6 > 2^32
	displayLen  = 8  // random characters kept in the display id

	// Len is the length of every API key.
	Len = len(Prefix) + randomLen + checksumLen
)

// Pattern is a regular expression matching API keys, for secret scanners.
const Pattern = `\bnxh_[0-9A-Za-z]{49}\b`

// Errors of Parse. Their messages never contain the key.
var (
	// ErrMalformed means the text cannot be an API key: wrong prefix, wrong
	// length, or a character outside base62.
	ErrMalformed = errors.New("apikey: malformed API key")
	// ErrChecksum means the text has the shape of a key but its checksum does
	// not match: it was mistyped, truncated and padded, or made up.
	ErrChecksum = errors.New("apikey: API key checksum mismatch")
)

// Parsed is an API key that passed Parse.
type Parsed struct {
	// Key is the whole key, as given.
	Key string
	// DisplayID is the non-secret identifier shown in lists, e.g. "nxh_ukmov5Ui".
	DisplayID string
}

// Format is the shape of a key: Prefix, 43 base62 characters carrying 256
// random bits, and 6 base62 characters of CRC-32 checksum over the rest.
// API keys use Prefix; other credentials that secret scanners should find
// (initial access tokens, for one) use the same shape with a prefix of
// their own, of the same length.
type Format struct {
	Prefix string
}

// Len is the length of every key of the format.
func (f Format) Len() int { return len(f.Prefix) + randomLen + checksumLen }

// Pattern is a regular expression matching keys of the format.
func (f Format) Pattern() string {
	return `\b` + f.Prefix + `[0-9A-Za-z]{` + fmt.Sprint(randomLen+checksumLen) + `}\b`
}

// New returns a fresh API key with 256 bits from the system CSPRNG.
func New() (string, error) { return Format{Prefix}.New() }

// Parse checks that s is a well-formed API key with a valid checksum. It
// returns an error wrapping ErrMalformed or ErrChecksum otherwise. A key that
// parses may still be unknown, revoked or expired: only the database knows.
func Parse(s string) (Parsed, error) { return Format{Prefix}.Parse(s) }

// New returns a fresh key of the format with 256 bits from the system CSPRNG.
func (f Format) New() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("apikey: read random bytes: %w", err)
	}
	body := f.Prefix + base62(new(big.Int).SetBytes(b), randomLen)
	return body + checksum(body), nil
}

// Parse checks that s is a well-formed key of the format with a valid
// checksum, as the package-level Parse does for API keys.
func (f Format) Parse(s string) (Parsed, error) {
	n := f.Len()
	if !strings.HasPrefix(s, f.Prefix) {
		return Parsed{}, fmt.Errorf("%w: it must start with %q", ErrMalformed, f.Prefix)
	}
	if len(s) != n {
		return Parsed{}, fmt.Errorf("%w: it must be %d characters long, got %d bytes", ErrMalformed, n, len(s))
	}
	for i := len(f.Prefix); i < len(s); i++ {
		if !isBase62(s[i]) {
			return Parsed{}, fmt.Errorf("%w: character %d is not a letter or digit", ErrMalformed, i+1)
		}
	}
	body := s[:n-checksumLen]
	if s[n-checksumLen:] != checksum(body) {
		return Parsed{}, ErrChecksum
	}
	return Parsed{Key: s, DisplayID: s[:len(f.Prefix)+displayLen]}, nil
}

// checksum returns the fixed-width base62 CRC-32 (IEEE) of body.
func checksum(body string) string {
	var out [checksumLen]byte
	n := crc32.ChecksumIEEE([]byte(body))
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = alphabet[n%62]
		n /= 62
	}
	return string(out[:])
}

// alphabet holds the base62 digits in math/big's order.
const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// base62 writes n in base62 (0-9, a-z, A-Z, as math/big does), left-padded
// with '0' to width characters. n always fits in width here.
func base62(n *big.Int, width int) string {
	s := n.Text(62)
	if len(s) < width {
		s = strings.Repeat("0", width-len(s)) + s
	}
	return s
}

func isBase62(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
