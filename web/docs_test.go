package web

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/nextoria/authz/apikey"
	"github.com/nextoria/authz/consent"
	"github.com/nextoria/authz/devdocs"
	"github.com/nextoria/authz/ratelimit"
	"github.com/nextoria/authz/resource"
)

// testDocs is a configuration whose values differ from every default, so
// that a page showing a default instead of the configured value fails.
var testDocs = DocsConfig{
	AccessTokenLifespan:       2 * time.Hour,
	AuthorizationCodeLifespan: 90 * time.Second,
	RefreshTokenLifespan:      60 * 24 * time.Hour,
	RefreshTokenIdleTimeout:   7 * 24 * time.Hour,
	RefreshGracePeriod:        3 * time.Second,
	TokenLimit:                ratelimit.Limit{Rate: 1200, Burst: 300},
	IntrospectionLimit:        ratelimit.Limit{Rate: 90000, Burst: 4000},
	OAuthErrors: []devdocs.ErrorCode{
		{Status: 400, Code: "invalid_grant", Meaning: "The grant is not valid."},
		{Status: 503, Code: "temporarily_unavailable", Meaning: "Retry later."},
	},
}

func newDocsEnv(t *testing.T) *testEnv {
	t.Helper()
	return newTestEnv(t, func(c *Config) {
		c.Issuer = "https://auth.example.com"
		c.Docs = testDocs
	})
}

// rawText is n's text as written, white space kept.
func rawText(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}

// TestDocsPages: every docs page answers 200 with the page's security
// headers, without a session, names itself in the navigation, and shows
// each of its examples as the curl command (or URL) made from the example's
// data against the configured issuer, with a copy button.
func TestDocsPages(t *testing.T) {
	t.Parallel()
	env := newDocsEnv(t)
	b := env.browser(t)
	seen := map[string]bool{}
	for _, p := range docPages {
		t.Run(p.Slug, func(t *testing.T) {
			resp := b.get(p.Href())
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s: status %d", p.Href(), resp.StatusCode)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'nonce-") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("CSP = %q", csp)
			}
			if resp.Header.Get("X-Frame-Options") != "DENY" {
				t.Error("no X-Frame-Options: DENY")
			}
			if resp.Header.Get("Set-Cookie") != "" {
				t.Error("a public docs page sets a cookie")
			}
			doc := parseHTML(t, resp.body)
			oneByTestID(t, doc, "docs-page-"+p.Slug)
			nav := oneByTestID(t, doc, "docs-nav")
			links := byTag(nav, "a")
			if len(links) != len(docPages) {
				t.Errorf("navigation has %d links, want %d", len(links), len(docPages))
			}
			current := oneByTestID(t, nav, "docs-nav-"+p.Slug)
			if v, _ := attr(current, "aria-current"); v != "page" {
				t.Error("the page's own link is not aria-current")
			}
			footer := oneByTestID(t, doc, "footer-docs")
			if href, _ := attr(footer, "href"); href != pathDocs {
				t.Errorf("footer links to %q", href)
			}
			v := docsView{Page: p, Issuer: "https://auth.example.com"}
			for _, e := range devdocs.ForPage(p.Slug) {
				seen[e.ID] = true
				code := oneByTestID(t, doc, "code-"+e.ID)
				if got, want := rawText(code), exampleText(v, e); got != want {
					t.Errorf("example %s shows\n%s\nwant\n%s", e.ID, got, want)
				}
				if !strings.Contains(rawText(code), "https://auth.example.com") && !strings.HasPrefix(e.Path, "$") {
					t.Errorf("example %s does not show the issuer", e.ID)
				}
				btn := oneByTestID(t, doc, "copy-code-"+e.ID)
				if target, _ := attr(btn, "data-copy"); target != "code-"+e.ID {
					t.Errorf("copy button of %s copies %q", e.ID, target)
				}
				if e.Status != 0 && !e.Browser {
					if got := textOf(oneByTestID(t, doc, "status-"+e.ID)); got != strconv.Itoa(e.Status)+" "+http.StatusText(e.Status) {
						t.Errorf("example %s status shown as %q", e.ID, got)
					}
				}
				if e.Response != "" && strings.Contains(rawText(oneByTestID(t, doc, "response-"+e.ID)), "$ISSUER") {
					t.Errorf("example %s answer shows $ISSUER, not the issuer", e.ID)
				}
			}
		})
	}
	t.Run("every example is shown", func(t *testing.T) {
		for _, e := range devdocs.Examples {
			if !seen[e.ID] {
				t.Errorf("example %s (page %q) is on no page", e.ID, e.Page)
			}
		}
	})
}

// TestDocsNotFound: an unknown page is the error page's 404, and
// /docs/overview and /docs/ are /docs.
func TestDocsNotFound(t *testing.T) {
	t.Parallel()
	env := newDocsEnv(t)
	b := env.browser(t)
	for _, path := range []string{"/docs/nope", "/docs/" + strings.Repeat("a", 300), "/docs/scopes/extra"} {
		if resp := b.get(path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: status %d, want 404", path, resp.StatusCode)
		}
	}
	for _, path := range []string{"/docs/overview", "/docs/"} {
		resp := b.get(path)
		if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != pathDocs {
			t.Errorf("GET %s: %d → %q, want 301 → %s", path, resp.StatusCode, resp.Header.Get("Location"), pathDocs)
		}
	}
}

// TestDocsShowServerData holds the pages to the Go data that drives the
// server: the scope catalogue, the plans, the error codes of the API and of
// the OAuth endpoints, the configured lifetimes and limits, the API key
// format.
func TestDocsShowServerData(t *testing.T) {
	t.Parallel()
	env := newDocsEnv(t)
	b := env.browser(t)
	page := func(slug string) *html.Node {
		t.Helper()
		p, _ := lookupDocPage(slug)
		resp := b.get(p.Href())
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", p.Href(), resp.StatusCode)
		}
		return parseHTML(t, resp.body)
	}
	cell := func(row *html.Node, i int) string {
		tds := byTag(row, "td")
		if i >= len(tds) {
			return ""
		}
		return textOf(tds[i])
	}

	t.Run("scopes", func(t *testing.T) {
		doc := page(devdocs.PageScopes)
		rows := byTag(oneByTestID(t, doc, "scope-table"), "tbody")[0]
		if n := len(byTag(rows, "tr")); n != len(consent.Catalogue) {
			t.Errorf("%d scope rows, want %d", n, len(consent.Catalogue))
		}
		for _, s := range consent.Catalogue {
			row := oneByTestID(t, doc, "scope-"+s.Name)
			if cell(row, 0) != s.Name || cell(row, 1) != s.Description || cell(row, 2) != s.Plain {
				t.Errorf("scope row %q = %q | %q | %q", s.Name, cell(row, 0), cell(row, 1), cell(row, 2))
			}
		}
	})
	t.Run("plans", func(t *testing.T) {
		doc := page(devdocs.PageRateLimits)
		plans := ratelimit.Plans()
		if n := len(byTag(byTag(oneByTestID(t, doc, "plans"), "tbody")[0], "tr")); n != len(plans) {
			t.Errorf("%d plan rows, want %d", n, len(plans))
		}
		for name, l := range plans {
			row := oneByTestID(t, doc, "plan-"+name)
			if !strings.EqualFold(cell(row, 0), name) || cell(row, 1) != formatInt(l.Rate) || cell(row, 2) != formatInt(l.Burst) {
				t.Errorf("plan row %q = %q | %q | %q", name, cell(row, 0), cell(row, 1), cell(row, 2))
			}
		}
		for id, want := range map[string][2]string{
			"token":         {"1,200", "300"},
			"introspection": {"90,000", "4,000"},
			"revocation":    {"No limit", ""},
		} {
			row := oneByTestID(t, doc, "limit-"+id)
			if cell(row, 1) != want[0] || cell(row, 2) != want[1] {
				t.Errorf("limit %s = %q | %q, want %q", id, cell(row, 1), cell(row, 2), want)
			}
		}
	})
	t.Run("errors", func(t *testing.T) {
		doc := page(devdocs.PageErrors)
		for _, e := range resource.Codes {
			row := oneByTestID(t, doc, "api-error-"+e.Code)
			if cell(row, 0) != strconv.Itoa(e.Status) || cell(row, 1) != e.Code || cell(row, 2) != e.Meaning {
				t.Errorf("API error row %q = %q | %q | %q", e.Code, cell(row, 0), cell(row, 1), cell(row, 2))
			}
		}
		if n := len(byTag(byTag(oneByTestID(t, doc, "oauth-errors"), "tbody")[0], "tr")); n != len(testDocs.OAuthErrors) {
			t.Errorf("%d OAuth error rows, want %d", n, len(testDocs.OAuthErrors))
		}
		for _, e := range testDocs.OAuthErrors {
			row := oneByTestID(t, doc, "oauth-error-"+e.Code+"-"+strconv.Itoa(e.Status))
			if cell(row, 1) != e.Code || cell(row, 2) != e.Meaning {
				t.Errorf("OAuth error row %q = %q | %q", e.Code, cell(row, 1), cell(row, 2))
			}
		}
	})
	t.Run("lifetimes", func(t *testing.T) {
		doc := page(devdocs.PageTokens)
		for id, want := range map[string]string{
			"lifetime-access": "2 hours", "lifetime-code": "90 seconds", "lifetime-idle": "7 days",
			"lifetime-refresh": "60 days", "lifetime-grace": "3 seconds",
		} {
			if got := cell(oneByTestID(t, doc, id), 1); got != want {
				t.Errorf("%s = %q, want %q", id, got, want)
			}
		}
		if got := textOf(oneByTestID(t, doc, "grace")); !strings.Contains(got, "3 seconds") {
			t.Errorf("grace period paragraph: %q", got)
		}
		doc = page(devdocs.PageAuthCode)
		if got := textOf(oneByTestID(t, doc, "code-lifespan")); got != "90 seconds" {
			t.Errorf("code lifespan = %q", got)
		}
		if got := textOf(oneByTestID(t, doc, "access-lifespan")); got != "2 hours" {
			t.Errorf("access token lifespan = %q", got)
		}
	})
	t.Run("api keys", func(t *testing.T) {
		doc := page(devdocs.PageAPIKeys)
		if got := rawText(oneByTestID(t, doc, "code-key-pattern")); got != apikey.Pattern {
			t.Errorf("pattern = %q, want %q", got, apikey.Pattern)
		}
		if got := textOf(oneByTestID(t, doc, "key-format")); !strings.Contains(got, apikey.Prefix) || !strings.Contains(got, strconv.Itoa(apikey.Len)+" characters") {
			t.Errorf("format = %q", got)
		}
	})
	t.Run("overview", func(t *testing.T) {
		doc := page(devdocs.PageOverview)
		if got := textOf(oneByTestID(t, doc, "issuer")); got != "https://auth.example.com" {
			t.Errorf("issuer = %q", got)
		}
	})
}

// TestDocsStrictGrace: with no grace period the tokens page says refresh
// tokens are strictly single use.
func TestDocsStrictGrace(t *testing.T) {
	t.Parallel()
	env := newTestEnv(t, func(c *Config) { c.Docs.RefreshGracePeriod = 0 })
	resp := env.browser(t).get("/docs/tokens")
	got := textOf(oneByTestID(t, parseHTML(t, resp.body), "grace"))
	if !strings.Contains(got, "strictly single use") {
		t.Errorf("grace paragraph without a grace period: %q", got)
	}
}

func TestHumanDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0: "0 seconds", time.Second: "1 second", 5 * time.Second: "5 seconds", 60 * time.Second: "1 minute",
		90 * time.Second: "90 seconds", time.Hour: "1 hour", 720 * time.Hour: "30 days", 336 * time.Hour: "14 days",
		36 * time.Hour: "36 hours", 1500 * time.Millisecond: "1.5s",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestFormatInt(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{0: "0", 60: "60", 999: "999", 1000: "1,000", 600000: "600,000", 1234567: "1,234,567"} {
		if got := formatInt(n); got != want {
			t.Errorf("formatInt(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestPKCECommands runs the shell commands of the authorization-code page:
// they must give a verifier RFC 7636 accepts and its S256 challenge.
func TestPKCECommands(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed")
	}
	out, err := exec.Command("sh", "-c", pkceCommands+"\nprintf '%s %s %s' \"$CODE_VERIFIER\" \"$CODE_CHALLENGE\" \"$STATE\"").Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out))
	if len(f) != 3 {
		t.Fatalf("output %q", out)
	}
	verifier, challenge, state := f[0], f[1], f[2]
	if !regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`).MatchString(verifier) {
		t.Errorf("verifier %q is not an RFC 7636 code verifier", verifier)
	}
	sum := sha256.Sum256([]byte(verifier))
	if want := base64.RawURLEncoding.EncodeToString(sum[:]); challenge != want {
		t.Errorf("challenge = %q, want %q", challenge, want)
	}
	if len(state) < 8 {
		t.Errorf("state %q is shorter than 8 characters", state)
	}
}
