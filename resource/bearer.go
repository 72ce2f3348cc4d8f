package resource

import (
	"errors"
	"net/http"
	"strings"
)

// maxTokenLen bounds the length of a bearer token; Nextoria's access tokens
// and API keys are far shorter.
const maxTokenLen = 4096

// Reasons bearerToken gives no token.
var (
	// errNoCredentials: no Authorization header, an empty one, or another
	// scheme (RFC 6750 §3.1: answer without an error code).
	errNoCredentials = errors.New("no bearer credentials")
	// errMalformedCredentials: a Bearer header that breaks RFC 6750 §2.1,
	// or more than one Authorization header (invalid_request).
	errMalformedCredentials = errors.New("malformed bearer credentials")
)

// bearerToken extracts the token of the request's one Authorization header:
//
//	credentials = "Bearer" 1*SP b64token     ; scheme case-insensitive
//	b64token    = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
//
// Tokens in the query string or the body (RFC 6750 §2.2, §2.3) are not
// accepted: they end up in logs.
func bearerToken(h http.Header) (string, error) {
	values := h.Values("Authorization")
	switch {
	case len(values) == 0:
		return "", errNoCredentials
	case len(values) > 1:
		return "", errMalformedCredentials
	}
	v := strings.Trim(values[0], " \t")
	if v == "" {
		return "", errNoCredentials
	}
	i := 0
	for i < len(v) && isTChar(v[i]) {
		i++
	}
	scheme, rest := v[:i], v[i:]
	switch {
	case scheme == "":
		return "", errMalformedCredentials
	case !strings.EqualFold(scheme, "Bearer"):
		if rest != "" && rest[0] != ' ' {
			return "", errMalformedCredentials
		}
		return "", errNoCredentials
	}
	token := strings.TrimLeft(rest, " ")
	if len(token) == len(rest) || token == "" || len(token) > maxTokenLen || !isB64Token(token) {
		return "", errMalformedCredentials
	}
	return token, nil
}

// isB64Token reports whether s matches RFC 6750's b64token.
func isB64Token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// isTChar reports whether c may appear in an HTTP token (RFC 9110 §5.6.2),
// such as an authentication scheme.
func isTChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
