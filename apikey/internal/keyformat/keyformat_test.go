package keyformat_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nextoria/authz/apikey/internal/keyformat"
)

// flip replaces the byte at i with another base62 character.
func flip(k string, i int) string {
	c := byte('a')
	if k[i] == 'a' {
		c = 'b'
	}
	return k[:i] + string(c) + k[i+1:]
}

func FuzzParse(f *testing.F) {
	k, _ := keyformat.New()
	for _, s := range []string{"", keyformat.Prefix, k, k[:len(k)-1], flip(k, 20), "nxh_" + strings.Repeat("z", 49), "Bearer " + k, k + "\xff"} {
		f.Add(s)
	}
	whole := regexp.MustCompile(`^` + keyformat.Pattern + `$`)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := keyformat.Parse(s)
		if err != nil {
			if !errors.Is(err, keyformat.ErrMalformed) && !errors.Is(err, keyformat.ErrChecksum) {
				t.Fatalf("Parse(%q) = %v: neither ErrMalformed nor ErrChecksum", s, err)
			}
			if p != (keyformat.Parsed{}) {
				t.Fatalf("Parse(%q) returned %+v with an error", s, p)
			}
			return
		}
		if p.Key != s || len(s) != keyformat.Len || !strings.HasPrefix(s, keyformat.Prefix) || !utf8.ValidString(s) {
			t.Fatalf("Parse accepted %q as %+v", s, p)
		}
		if !strings.HasPrefix(s, p.DisplayID) || len(p.DisplayID) != len(keyformat.Prefix)+8 {
			t.Fatalf("Parse(%q): display id %q", s, p.DisplayID)
		}
		if !whole.MatchString(s) {
			t.Fatalf("Parse accepted %q, which Pattern does not match", s)
		}
		for i := len(keyformat.Prefix); i < len(s); i++ {
			if _, err := keyformat.Parse(flip(s, i)); err == nil {
				t.Fatalf("Parse accepted %q and its typo at %d", s, i)
			}
		}
	})
}
