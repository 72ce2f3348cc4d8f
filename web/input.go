package web

import (
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"
)

// Input that reaches the store is checked here first. PostgreSQL refuses
// text that is not valid UTF-8 or that contains NUL (SQLSTATE 22021), and
// such an error would surface as a 500 and an ERROR log line; a browser or a
// script sending such bytes is at fault, not the server, so it gets the
// answer any other malformed input gets: 400 for a form, 404 for a path
// that names nothing, or a field error where the form has one.

// validText reports whether s can be stored as text: valid UTF-8 without
// NUL.
func validText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// invalidField returns the name of the first field of form, other than
// those in checked (which the handler validates itself, with a field-level
// message), whose name or one of whose values is not validText.
func invalidField(form url.Values, checked ...string) (string, bool) {
	for name, values := range form {
		if !validText(name) {
			return name, true
		}
		if slices.Contains(checked, name) {
			continue
		}
		for _, v := range values {
			if !validText(v) {
				return name, true
			}
		}
	}
	return "", false
}

// maxIDLen bounds the identifiers accepted in paths.
const maxIDLen = 128

// validKeyID reports whether id can name an API key. Keys are identified by
// UUIDs; anything that is not a short run of URL-safe characters cannot be
// one, and is answered like an unknown key without asking the store.
func validKeyID(id string) bool {
	if id == "" || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// displayText makes text fit to show again in a form: invalid UTF-8
// sequences become U+FFFD and NUL is dropped.
func displayText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
}
