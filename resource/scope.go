package resource

import (
	"slices"
	"strings"
)

// parseScope splits an introspection response's scope (RFC 7662 §2.2, a
// space-separated list as in RFC 6749 §3.3) into distinct scope tokens in
// order. Empty entries and entries with characters a scope-token cannot
// hold are dropped: no route can require them.
func parseScope(s string) []string {
	var out []string
	for _, f := range strings.Split(s, " ") {
		if validScope(f) && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// validScope reports whether s is an RFC 6749 scope-token:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func validScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}
