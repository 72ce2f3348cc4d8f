package web

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nextoria/authz/apikey"
	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/devdocs"
	"github.com/nextoria/authz/ratelimit"
	"github.com/nextoria/authz/resource"
)

// DocsConfig is what the developer docs pages (/docs) show of the running
// server's configuration, so that the pages state the values this server
// applies. The scope catalogue, the plans and the API error codes come from
// their own packages; the OAuth error codes from package authz, passed in
// here because web does not import it.
type DocsConfig struct {
	AccessTokenLifespan       time.Duration
	AuthorizationCodeLifespan time.Duration
	RefreshTokenLifespan      time.Duration // absolute, from authorization
	RefreshTokenIdleTimeout   time.Duration
	RefreshGracePeriod        time.Duration
	// Endpoint limits of the token, introspection and revocation endpoints,
	// per client (per resource server for introspection); zero: no limit.
	TokenLimit, IntrospectionLimit, RevocationLimit ratelimit.Limit
	// OAuthErrors are the error codes of the token, revocation and
	// introspection endpoints (authz.TokenErrors).
	OAuthErrors []devdocs.ErrorCode
}

// pathDocs is the docs overview; every other page is pathDocs/<slug>.
const pathDocs = devdocs.PathOverview

// docPage is one page of the developer docs.
type docPage = devdocs.Page

// docPages are the developer docs, in reading order: the navigation of every
// docs page.
var docPages = devdocs.Pages

func lookupDocPage(slug string) (docPage, bool) {
	i := slices.IndexFunc(docPages, func(p docPage) bool { return p.Slug == slug })
	if i < 0 {
		return docPage{}, false
	}
	return docPages[i], true
}

// docsView is everything a docs page renders.
type docsView struct {
	Page   docPage
	Issuer string
	Cfg    DocsConfig
}

// Examples are the page's copyable examples.
func (v docsView) Examples() []devdocs.Example { return devdocs.ForPage(v.Page.Slug) }

// Example returns the example with id; pages name the examples they place.
func (v docsView) Example(id string) devdocs.Example {
	e, ok := devdocs.ByID(id)
	if !ok {
		panic("web: docs page names unknown example " + id)
	}
	return e
}

// Expand fills the server's own values into sample text; the reader's
// values stay placeholders.
func (v docsView) Expand(s string) string {
	return devdocs.Expand(s, map[string]string{"ISSUER": v.Issuer})
}

// docScopes is the scope table: the catalogue of the consent screen.
func docScopes() []consent.Scope { return consent.Catalogue }

// docPlan is a row of the plan table.
type docPlan struct {
	Name  string
	Limit ratelimit.Limit
}

// docPlans are the workspace plans and their limits, strictest first.
func docPlans() []docPlan {
	var out []docPlan
	for name, l := range ratelimit.Plans() {
		out = append(out, docPlan{name, l})
	}
	slices.SortFunc(out, func(a, b docPlan) int { return a.Limit.Rate - b.Limit.Rate })
	return out
}

// planLabel names a plan as the documentation does: "starter" → "Starter".
func planLabel(name string) string {
	if name == "" {
		return name
	}
	return strings.ToUpper(name[:1]) + name[1:]
}

// docAPIErrors are the codes of the REST API's error envelope.
func docAPIErrors() []resource.ErrorCode { return resource.Codes }

// apiKeyPattern is the published pattern of API keys, for secret scanners.
const apiKeyPattern = apikey.Pattern

// keyPrefix starts every API key.
const keyPrefix = apikey.Prefix

// keyLen is the length of every API key.
var keyLen = strconv.Itoa(apikey.Len)

// humanDuration writes a configured duration for people: "1 hour",
// "30 days", "5 seconds", "0 seconds".
func humanDuration(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return strconv.FormatInt(n, 10) + " " + one + "s"
	}
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return unit(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return unit(int64(d/time.Minute), "minute")
	case d%time.Second == 0:
		return unit(int64(d/time.Second), "second")
	}
	return d.String()
}

// formatInt writes n with thousands separators, as the documentation does.
func formatInt(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// docsRoutes registers the developer docs pages.
func (s *Server) docsRoutes(mux *http.ServeMux) {
	mux.Handle("GET "+pathDocs, s.Middleware(http.HandlerFunc(s.handleDocs)))
	mux.Handle("GET "+pathDocs+"/{page}", s.Middleware(http.HandlerFunc(s.handleDocs)))
	mux.Handle("GET "+pathDocs+"/{$}", s.Middleware(http.RedirectHandler(pathDocs, http.StatusMovedPermanently)))
}

// handleDocs serves a docs page. The pages are public: they need no session
// and show nothing of the person reading them.
func (s *Server) handleDocs(w http.ResponseWriter, r *http.Request) {
	slug := r.PathValue("page")
	switch slug {
	case "":
		slug = devdocs.PageOverview
	case devdocs.PageOverview:
		http.Redirect(w, r, pathDocs, http.StatusMovedPermanently)
		return
	}
	p, ok := lookupDocPage(slug)
	if !ok {
		s.RenderError(w, r, http.StatusNotFound, "Not found",
			"There is no such page in the developer documentation.")
		return
	}
	s.render(w, r, http.StatusOK, docsPage(docsView{Page: p, Issuer: s.issuer, Cfg: s.docs}))
}
