package apps

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of an app's public profile.
const (
	MaxProfileURLLen  = 2000 // bytes
	MaxDescriptionLen = 140  // characters, after trimming
)

// Field names of the profile, keys of FieldErrors like FieldName.
const (
	FieldHomepageURL = "homepage_url"
	FieldPrivacyURL  = "privacy_url"
	FieldDescription = "description"
)

// Profile is an app's optional public profile: shown on the consent screen
// and in the authorized-apps list, so people can tell who they are dealing
// with. Empty fields are not shown.
type Profile struct {
	HomepageURL string
	PrivacyURL  string
	Description string
}

// normalize trims the fields as they are stored.
func (p Profile) normalize() Profile {
	return Profile{
		HomepageURL: strings.TrimSpace(p.HomepageURL),
		PrivacyURL:  strings.TrimSpace(p.PrivacyURL),
		Description: strings.TrimSpace(p.Description),
	}
}

// checkProfile adds the profile's problems to fe.
func checkProfile(fe FieldErrors, p Profile) {
	p = p.normalize()
	if msg := checkProfileURL(p.HomepageURL); msg != "" {
		fe[FieldHomepageURL] = msg
	}
	if msg := checkProfileURL(p.PrivacyURL); msg != "" {
		fe[FieldPrivacyURL] = msg
	}
	if msg := checkDescription(p.Description); msg != "" {
		fe[FieldDescription] = msg
	}
}

// checkProfileURL accepts "" or an absolute https URL with a host and no
// credentials: the consent screen links to it, so it must be safe to open.
func checkProfileURL(s string) string {
	if s == "" {
		return ""
	}
	if len(s) > MaxProfileURLLen {
		return "must be at most 2000 characters"
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) {
		return "must not contain spaces or control characters"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Opaque != "" {
		return "must be an https:// address, such as https://yourapp.com/privacy"
	}
	if u.User != nil {
		return "must not contain a user name or password"
	}
	return ""
}

// checkDescription accepts "" or one line of at most MaxDescriptionLen
// printable characters.
func checkDescription(s string) string {
	if s == "" {
		return ""
	}
	if !utf8.ValidString(s) {
		return "must be valid UTF-8 text"
	}
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }) {
		return "must be a single line without control characters"
	}
	if n := utf8.RuneCountInString(s); n > MaxDescriptionLen {
		return "must be at most 140 characters"
	}
	return ""
}
