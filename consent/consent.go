// Package consent owns the scope catalogue and the consent policy: which
// scopes exist and what they mean, whether an authorization request needs the
// user's decision, and what the consent screen asks. It is plain logic with no
// HTTP and no database.
package consent

import (
	"net"
	"net/url"
	"slices"
	"strings"
)

// Access says what a scope lets an app do, so the consent screen can group
// the rights it asks for and state the strong ones plainly.
type Access string

// The kinds of access a scope grants.
const (
	// Read lets the app see data.
	Read Access = "read"
	// Write lets the app create and change data.
	Write Access = "write"
	// Destructive lets the app change data in ways that cannot be undone
	// (delete projects, void invoices).
	Destructive Access = "destructive"
	// Identity lets the app know who the user is (OpenID Connect).
	Identity Access = "identity"
)

// Scope is one entry of the documented scope catalogue.
type Scope struct {
	Name string
	// Description is the documented description (API reference).
	Description string
	Access      Access
	// Plain says what the app may do in words for the consent screen,
	// completing "This will allow the app to …".
	Plain string
}

// Catalogue lists every scope an app may request, in the documented order.
var Catalogue = []Scope{
	{"openid", "Sign in with OpenID Connect", Identity, "Sign you in with your Nextoria Hub account"},
	{"profile", "Read the user's name", Identity, "See your name"},
	{"email", "Read the user's e-mail address", Identity, "See your e-mail address"},
	{"projects:read", "List and read project data", Read, "See your projects"},
	{"projects:write", "Create, update, and delete projects", Destructive, "Create, change and delete projects"},
	{"tasks:read", "Read task data across projects", Read, "See the tasks in all your projects"},
	{"tasks:write", "Create and update tasks", Write, "Create and change tasks"},
	{"clients:read", "Read client records", Read, "See your client records"},
	{"clients:write", "Create and manage client records", Write, "Create and change client records"},
	{"invoices:read", "Read invoice data", Read, "See your invoices"},
	{"invoices:write", "Create, send, and void invoices", Destructive, "Create, send and void invoices"},
	{"files:read", "Read file metadata and download URLs", Read, "See your files and download them"},
	{"analytics:read", "Read analytics and reporting data", Read, "See your analytics and reports"},
}

// Grouped splits the scopes that give access to data into what lets the app
// see data and what lets it change data (destructive rights included),
// keeping their order. Identity scopes are in neither group: see Identities.
func Grouped(scopes []Scope) (read, write []Scope) {
	for _, s := range scopes {
		switch s.Access {
		case Identity:
		case Read:
			read = append(read, s)
		default:
			write = append(write, s)
		}
	}
	return read, write
}

// Identities returns the scopes that tell the app who the user is, keeping
// their order.
func Identities(scopes []Scope) []Scope {
	var out []Scope
	for _, s := range scopes {
		if s.Access == Identity {
			out = append(out, s)
		}
	}
	return out
}

// IdentityOnly reports whether scopes ask only who the user is (OpenID
// Connect sign-in) and no access to their data: the consent screen then
// reads as a sign-in. An empty list is not a sign-in.
func IdentityOnly(scopes []Scope) bool {
	for _, s := range scopes {
		if s.Access != Identity {
			return false
		}
	}
	return len(scopes) > 0
}

// Names returns the catalogue's scope names in order.
func Names() []string {
	out := make([]string, len(Catalogue))
	for i, s := range Catalogue {
		out[i] = s.Name
	}
	return out
}

// APICatalogue lists the scopes an API key may hold: the catalogue without
// the identity scopes, which only mean something for a signed-in user.
func APICatalogue() []Scope {
	var out []Scope
	for _, s := range Catalogue {
		if s.Access != Identity {
			out = append(out, s)
		}
	}
	return out
}

// APINames returns the names of APICatalogue in order.
func APINames() []string {
	var out []string
	for _, s := range APICatalogue() {
		out = append(out, s.Name)
	}
	return out
}

// Lookup returns the catalogue entry for name.
func Lookup(name string) (Scope, bool) {
	for _, s := range Catalogue {
		if s.Name == name {
			return s, true
		}
	}
	return Scope{}, false
}

// Describe maps scope names to catalogue entries in catalogue order, skipping
// unknown names and duplicates.
func Describe(names []string) []Scope {
	var out []Scope
	for _, s := range Catalogue {
		if slices.Contains(names, s.Name) {
			out = append(out, s)
		}
	}
	return out
}

// Unknown returns the names that are not in the catalogue, in input order.
func Unknown(names []string) []string {
	var out []string
	for _, n := range names {
		if _, ok := Lookup(n); !ok {
			out = append(out, n)
		}
	}
	return out
}

// ParseScope splits a space-separated scope parameter (RFC 6749 §3.3) into
// distinct names, dropping empty entries.
func ParseScope(s string) []string {
	var out []string
	for _, f := range strings.Split(s, " ") {
		if f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// Covers reports whether granted includes every requested scope.
func Covers(granted, requested []string) bool {
	for _, r := range requested {
		if !slices.Contains(granted, r) {
			return false
		}
	}
	return true
}

// NeedsPrompt decides whether to show the consent screen. remembered holds the
// scopes the user already granted this app (nil when none); prompt is the
// request's space-separated prompt parameter. A user who already granted the
// same or broader scopes is not asked again unless the client asks with
// prompt=consent.
func NeedsPrompt(remembered, requested []string, prompt string) bool {
	if slices.Contains(ParseScope(prompt), "consent") {
		return true
	}
	if remembered == nil {
		return true
	}
	return !Covers(remembered, requested)
}

// MayRemember reports whether remembered consent may authorize a request
// without asking the user again. For a public client it may only when the
// redirect goes to a non-loopback https URI, whose owner is the app's
// publisher. A public client redirecting to a loopback address (or to any
// other non-https URI) cannot prove who it is: any local program can start
// the flow with its client_id and receive the code, so the user is asked
// every time (RFC 8252 §8.6). Confidential clients prove who they are at the
// token endpoint.
func MayRemember(public bool, redirect *url.URL) bool {
	if !public {
		return true
	}
	if redirect == nil || redirect.Scheme != "https" {
		return false
	}
	return !IsLoopback(redirect)
}

// IsLoopback reports whether u's host is a loopback address (127.0.0.0/8,
// [::1]) or a localhost name.
func IsLoopback(u *url.URL) bool {
	h := strings.ToLower(u.Hostname())
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Prompt is everything the consent screen shows and posts back.
type Prompt struct {
	// ChallengeID identifies the pending authorization; the form posts it back.
	ChallengeID string
	// CSRFToken is bound to the login session and to ChallengeID.
	CSRFToken string
	// FormAction is where the form posts (the authorization endpoint).
	FormAction string
	ClientID   string
	AppName    string
	// LogoVersion is the SHA-256 of the app's logo, which versions its URL;
	// empty when the app has no logo, and the page shows a placeholder.
	LogoVersion string
	// RedirectHost is the host the user will be sent back to, e.g. "yourapp.com".
	RedirectHost string
	// RedirectOrigin (scheme://host[:port]) is allowed as a form-action target,
	// since the decision answers with a redirect there.
	RedirectOrigin string
	Scopes         []Scope
	UserEmail      string
	WorkspaceName  string
	// Publisher is the name of the workspace that registered the app.
	Publisher string
	// HomepageURL, PrivacyURL and Description are the app's public profile,
	// each empty when the app did not give it.
	HomepageURL string
	PrivacyURL  string
	Description string
	// ReturnTo is the local path of this authorization request, where "Not
	// you? Use another account" comes back after signing out.
	ReturnTo string
}
