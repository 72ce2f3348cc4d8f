// Package apps owns the registration and management of OAuth apps: what
// makes a name, a redirect URI, a scope list or a logo acceptable, how an
// app's client_id and client secret are made, rotated and stored, and who may
// change or delete an app (CanManage). The CLI and the browser settings pages
// both use it, so they apply the same rules and show the same field-level
// messages.
package apps

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/storage"
)

// Limits of a registration.
const (
	MaxNameLen      = 100 // characters, after trimming
	MaxRedirectURIs = 10
	maxRedirectLen  = 2000
)

// Field names used as keys of FieldErrors. They match the form fields of the
// registration page.
const (
	FieldName         = "name"
	FieldRedirectURIs = "redirect_uris"
	FieldScopes       = "scopes"
	FieldLogo         = "logo"
	FieldIDTokenAlg   = "id_token_alg"
	// FieldPostLogoutRedirectURIs holds the post-logout redirect URIs.
	FieldPostLogoutRedirectURIs = "post_logout_redirect_uris"
)

// Registration is what a person submits to register an app.
type Registration struct {
	Name         string
	RedirectURIs []string
	// PostLogoutRedirectURIs are where the end-session endpoint may send the
	// browser after a sign-out the app asked for (OpenID Connect
	// RP-Initiated Logout): optional, checked like redirect URIs.
	PostLogoutRedirectURIs []string
	Scopes                 []string
	// Public apps (single-page and native apps) cannot keep a secret and get
	// none; they must use PKCE.
	Public bool
	// PKCEOptional lets a confidential app omit PKCE; by default every app
	// must use it (RFC 9700 §2.1.1). Ignored for public apps.
	PKCEOptional bool
	// Logo is the raw upload, nil when there is none. It is validated and
	// re-encoded as PNG before it is stored.
	Logo        []byte
	WorkspaceID string
	// OwnerID is the registering user; "" for an app registered by API
	// without one (its workspace's administrators manage it).
	OwnerID string
	// Profile is optional: homepage, privacy policy and a one-line description.
	Profile Profile
	// IDTokenAlg is the algorithm of the app's OpenID Connect ID tokens:
	// storage.IDTokenRS256 (the default when empty) or storage.IDTokenES256.
	IDTokenAlg string
}

// FieldErrors maps a field name (FieldName, FieldRedirectURIs, FieldScopes,
// FieldLogo) to a message fit to show next to that field, as a 422 response
// or a form re-rendered with errors.
type FieldErrors map[string]string

// Error lists the problems in a stable order.
func (fe FieldErrors) Error() string {
	keys := make([]string, 0, len(fe))
	for k := range fe {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + fe[k]
	}
	return "invalid app registration: " + strings.Join(parts, "; ")
}

// Validate checks a registration and returns nil when it is acceptable. The
// logo, when present, is decoded to make sure it is a usable image.
func Validate(r Registration) FieldErrors {
	fe, _, err := validate(context.Background(), r)
	if err != nil {
		if fe == nil {
			fe = FieldErrors{}
		}
		fe[FieldLogo] = err.Error()
	}
	return fe
}

// validate returns the field errors, or the normalized logo (nil when the
// registration has none) so that Register does not decode it twice. The
// logo is processed in an image slot (NormalizeLogoContext); the error is
// non-nil when that could not be done (ErrLogoBusy, or ctx ended), and the
// registration was then not fully checked.
func validate(ctx context.Context, r Registration) (FieldErrors, *storage.Logo, error) {
	fe := FieldErrors{}
	if msg := checkName(r.Name); msg != "" {
		fe[FieldName] = msg
	}
	if msg := checkRedirectURIs(r.RedirectURIs); msg != "" {
		fe[FieldRedirectURIs] = msg
	}
	if msg := checkPostLogoutRedirectURIs(r.PostLogoutRedirectURIs); msg != "" {
		fe[FieldPostLogoutRedirectURIs] = msg
	}
	if msg := checkScopes(r.Scopes); msg != "" {
		fe[FieldScopes] = msg
	}
	checkProfile(fe, r.Profile)
	if msg := CheckIDTokenAlg(r.IDTokenAlg); msg != "" {
		fe[FieldIDTokenAlg] = msg
	}
	var logo *storage.Logo
	if r.Logo != nil {
		l, err := NormalizeLogoContext(ctx, r.Logo)
		switch {
		case errors.Is(err, ErrLogoBusy) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
			return nil, nil, err
		case err != nil:
			fe[FieldLogo] = err.Error()
		default:
			logo = &l
		}
	}
	if len(fe) > 0 {
		return fe, nil, nil
	}
	return nil, logo, nil
}

// CheckIDTokenAlg returns what is wrong with an ID token algorithm, or "":
// RS256, ES256 or empty (keep the current one, RS256 for a new app).
func CheckIDTokenAlg(alg string) string {
	switch alg {
	case "", storage.IDTokenRS256, storage.IDTokenES256:
		return ""
	}
	return fmt.Sprintf("unknown ID token algorithm %q; use %s or %s", alg, storage.IDTokenRS256, storage.IDTokenES256)
}

func checkName(name string) string {
	if !utf8.ValidString(name) {
		return "must be valid UTF-8 text"
	}
	name = strings.TrimSpace(name)
	n := utf8.RuneCountInString(name)
	if n == 0 {
		return "is required"
	}
	if n > MaxNameLen {
		return fmt.Sprintf("must be at most %d characters", MaxNameLen)
	}
	for _, r := range name {
		// IsPrint admits letters, marks, numbers, punctuation, symbols and the
		// ASCII space; it rejects control and format characters such as the
		// bidirectional overrides that could disguise a name on the consent screen.
		if !printable(r) {
			return "must contain only printable characters"
		}
	}
	return ""
}

func checkRedirectURIs(uris []string) string {
	if len(uris) == 0 {
		return "at least one redirect URI is required"
	}
	if len(uris) > MaxRedirectURIs {
		return fmt.Sprintf("at most %d redirect URIs are allowed", MaxRedirectURIs)
	}
	for i, u := range uris {
		if err := ValidateRedirectURI(u); err != nil {
			return err.Error()
		}
		if slices.Contains(uris[:i], u) {
			return fmt.Sprintf("redirect URI %q is listed twice", u)
		}
	}
	return ""
}

// checkPostLogoutRedirectURIs applies the rules of redirect URIs to the
// post-logout redirect URIs, of which there may be none.
func checkPostLogoutRedirectURIs(uris []string) string {
	if len(uris) == 0 {
		return ""
	}
	if msg := checkRedirectURIs(uris); msg != "" {
		return "post-logout " + msg
	}
	return ""
}

func checkScopes(scopes []string) string {
	if len(scopes) == 0 {
		return "at least one scope is required"
	}
	if unknown := consent.Unknown(scopes); len(unknown) > 0 {
		return fmt.Sprintf("unknown scope %q; known scopes: %s", unknown[0], strings.Join(consent.Names(), ", "))
	}
	for i, s := range scopes {
		if slices.Contains(scopes[:i], s) {
			return fmt.Sprintf("scope %q is listed twice", s)
		}
	}
	return ""
}

// printable reports whether r may appear in a name or a redirect URI: a
// printable character other than U+FFFD, the replacement character, which
// unicode.IsPrint admits and which is also what ranging over a string yields
// for a byte that is not UTF-8.
func printable(r rune) bool {
	return r != utf8.RuneError && unicode.IsPrint(r)
}

// loopbackHosts may use plain http (RFC 8252 §7.3): traffic to them never
// leaves the machine. They are IP literals only: the name localhost is
// refused (RFC 8252 §8.3), since it may be resolved by something other than
// the local machine's loopback interface, and a port bound on one loopback
// address does not prevent another program from binding the same port on
// the other.
var loopbackHosts = []string{"127.0.0.1", "::1"}

// msgPlainHTTP explains which hosts may use plain http.
const msgPlainHTTP = "must use https (plain http is allowed only for the loopback addresses http://127.0.0.1 and http://[::1])"

// ValidateRedirectURI reports why s is not an acceptable redirect URI. A
// redirect URI receives authorization codes, so it must be an exact, absolute
// https URL (plain http only for the loopback IP literals 127.0.0.1 and
// [::1], not localhost), in valid UTF-8, without fragment, wildcard or user
// information. Matching at authorization time is by exact string.
func ValidateRedirectURI(s string) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("redirect URI %q: "+format, append([]any{s}, args...)...)
	}
	if s == "" {
		return errors.New("redirect URI must not be empty")
	}
	if len(s) > maxRedirectLen {
		return fmt.Errorf("redirect URI must be at most %d characters", maxRedirectLen)
	}
	if !utf8.ValidString(s) {
		return bad("must be valid UTF-8 text")
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f || !printable(r) {
			return bad("must not contain spaces or control characters")
		}
	}
	if strings.Contains(s, "*") {
		return bad("must not contain wildcards ('*')")
	}
	if strings.Contains(s, "#") {
		return bad("must not contain a fragment ('#')")
	}
	if strings.Contains(s, `\`) {
		return bad("must not contain backslashes")
	}
	u, err := url.Parse(s)
	if err != nil {
		return bad("is not a valid URL")
	}
	if !u.IsAbs() || u.Opaque != "" || u.Host == "" {
		return bad("must be an absolute URL such as https://example.com/callback")
	}
	if u.User != nil {
		return bad("must not contain user information ('user@')")
	}
	host := u.Hostname()
	if host == "" {
		return bad("must name a host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return bad("has an invalid port")
		}
	}
	switch u.Scheme {
	case "https":
	case "http":
		if strings.EqualFold(host, "localhost") {
			return bad("must not use localhost: use http://127.0.0.1 or http://[::1] with the same port and path instead (RFC 8252 §8.3)")
		}
		if !slices.Contains(loopbackHosts, host) {
			return bad(msgPlainHTTP)
		}
	default:
		return bad(msgPlainHTTP)
	}
	return nil
}
