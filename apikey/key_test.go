package apikey_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/nextoria/authz/apikey"
)

// newKey returns a fresh key or fails the test.
func newKey(t testing.TB) string {
	t.Helper()
	k, err := apikey.New()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return k
}

func TestNew(t *testing.T) {
	t.Parallel()
	pattern := regexp.MustCompile(apikey.Pattern)
	seen := map[string]bool{}
	for range 200 {
		k := newKey(t)
		if len(k) != apikey.Len || !strings.HasPrefix(k, apikey.Prefix) {
			t.Fatalf("New() = %q: want %d characters starting with %q", k, apikey.Len, apikey.Prefix)
		}
		if !pattern.MatchString("leaked: " + k + ".") {
			t.Fatalf("Pattern does not find %q", k)
		}
		p, err := apikey.Parse(k)
		if err != nil {
			t.Fatalf("Parse(New()) = %v", err)
		}
		if p.Key != k || p.DisplayID != k[:len(apikey.Prefix)+8] {
			t.Fatalf("Parse(%q) = %+v", k, p)
		}
		if seen[k] || seen[p.DisplayID] {
			t.Fatalf("New repeated itself: %q", k)
		}
		seen[k], seen[p.DisplayID] = true, true
	}
}

// Parse is fuzzed in package keyformat (FuzzParse), whose test binary does
// not carry apikey's storage dependencies.

// flip replaces the byte at i with another base62 character.
func flip(k string, i int) string {
	c := byte('a')
	if k[i] == 'a' {
		c = 'b'
	}
	return k[:i] + string(c) + k[i+1:]
}

func TestParse(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"valid", k, nil},
		{"empty", "", apikey.ErrMalformed},
		{"prefix only", apikey.Prefix, apikey.ErrMalformed},
		{"wrong prefix", "nxk_" + k[4:], apikey.ErrMalformed},
		{"upper-case prefix", "NXH_" + k[4:], apikey.ErrMalformed},
		{"no prefix", k[4:], apikey.ErrMalformed},
		{"truncated", k[:len(k)-1], apikey.ErrMalformed},
		{"one character too many", k + "a", apikey.ErrMalformed},
		{"leading space", " " + k[:len(k)-1], apikey.ErrMalformed},
		{"trailing newline", k[:len(k)-1] + "\n", apikey.ErrMalformed},
		{"dash", k[:10] + "-" + k[11:], apikey.ErrMalformed},
		{"underscore", k[:10] + "_" + k[11:], apikey.ErrMalformed},
		{"base64 padding", k[:len(k)-1] + "=", apikey.ErrMalformed},
		{"non-ASCII letter", k[:10] + "é" + k[12:], apikey.ErrMalformed},
		{"invalid UTF-8", k[:10] + "\xff" + k[11:], apikey.ErrMalformed},
		{"NUL byte", k[:10] + "\x00" + k[11:], apikey.ErrMalformed},
		{"flipped random character", flip(k, 10), apikey.ErrChecksum},
		{"flipped checksum character", flip(k, len(k)-1), apikey.ErrChecksum},
		{"all zeros", apikey.Prefix + strings.Repeat("0", apikey.Len-len(apikey.Prefix)), apikey.ErrChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := apikey.Parse(tt.in)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("Parse(%q) error = %v, want %v", tt.in, err, tt.want)
			}
			if err != nil {
				if p != (apikey.Parsed{}) {
					t.Errorf("Parse returned %+v with an error", p)
				}
				if strings.Contains(err.Error(), k[4:20]) {
					t.Errorf("error %q quotes the key", err)
				}
			}
		})
	}
}

// TestParseEverySingleTypo changes each character of a key to every other
// base62 character: CRC-32 detects every single-character error.
func TestParseEverySingleTypo(t *testing.T) {
	t.Parallel()
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	k := newKey(t)
	for i := len(apikey.Prefix); i < len(k); i++ {
		for _, c := range []byte(alphabet) {
			if c == k[i] {
				continue
			}
			typo := k[:i] + string(c) + k[i+1:]
			if _, err := apikey.Parse(typo); !errors.Is(err, apikey.ErrChecksum) {
				t.Fatalf("Parse(key with character %d changed to %q) = %v, want ErrChecksum", i, c, err)
			}
		}
	}
}
