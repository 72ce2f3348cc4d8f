package main

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/nextoria/authz/authz"
	"github.com/nextoria/authz/devdocs"
)

// TestE2EDocsExamples runs every copyable example of the /docs pages against
// a live server and the example API, in the order a reader makes them, with
// real values for the placeholders: a registered app, a PKCE pair, a code
// from a driven authorization, the tokens of the answers before, resource
// server credentials and an API key. Each must answer the documented status
// and members. The page must show exactly the command that was run, with
// this server's issuer. An example whose endpoint the server does not
// publish yet (its Requires member is missing from the metadata) is skipped.
func TestE2EDocsExamples(t *testing.T) {
	t.Parallel()
	s := startE2E(t)
	rsID, rsSecret := s.resourceServer(t)
	_, apiKey, err := s.app.apiKeys.Create(t.Context(), s.WorkspaceID, s.UserID, "Zapier Integration", []string{"projects:read"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	api := s.startExampleAPI(t, rsID, rsSecret)
	verifier := oauth2.GenerateVerifier()
	vars := map[string]string{
		"ISSUER":           s.URL,
		"CLIENT_ID":        s.ClientID,
		"CLIENT_SECRET":    s.ClientSecret,
		"REDIRECT_URI":     s.RedirectURI,
		"STATE":            "state-" + oauth2.GenerateVerifier()[:16],
		"CODE_VERIFIER":    verifier,
		"CODE_CHALLENGE":   oauth2.S256ChallengeFromVerifier(verifier),
		"RS_CLIENT_ID":     rsID,
		"RS_CLIENT_SECRET": rsSecret,
		"API_KEY":          apiKey,
		"API_URL":          api.URL,
		"NONCE":            "n-" + oauth2.GenerateVerifier()[:16],
		"USER_ID":          s.UserID,
	}
	var meta map[string]any
	getJSON(t, s.URL+"/.well-known/oauth-authorization-server", &meta)
	if meta[devdocs.RegistrationField] != nil {
		env := []string{"NEXTORIA_DATABASE_URL=" + s.cfg.Database.URL, "NEXTORIA_SECRETS_SYSTEM=" + s.cfg.Secrets.System, "NEXTORIA_LOG_LEVEL=error"}
		out := mustRun(t, env, "", "--json", "registration-tokens", "create",
			"--workspace", s.WorkspaceID, "--name", "Docs examples")
		vars["INITIAL_ACCESS_TOKEN"] = decode[map[string]string](t, out)["token"]
	}

	shown := map[string]string{} // page slug → its HTML
	for _, e := range devdocs.Examples {
		if _, ok := shown[e.Page]; !ok {
			shown[e.Page] = docsPageHTML(t, s, e.Page)
		}
		if want := html.EscapeString(docsText(e, s.URL)); !strings.Contains(shown[e.Page], want) {
			t.Errorf("page %s does not show example %s as\n%s", e.Page, e.ID, want)
		}
		ok := t.Run(e.ID, func(t *testing.T) {
			if e.Requires != "" && meta[e.Requires] == nil {
				t.Skipf("the server publishes no %s yet", e.Requires)
			}
			if e.Browser {
				runBrowserExample(t, s, e, vars)
				return
			}
			runExample(t, s, e, vars)
		})
		if !ok {
			t.Fatalf("example %s failed; the examples after it depend on it", e.ID)
		}
	}
}

// docsText is what a docs page shows of e.
func docsText(e devdocs.Example, issuer string) string {
	if e.Browser {
		return e.URL(issuer)
	}
	return e.Curl(issuer)
}

// docsPageHTML fetches a docs page.
func docsPageHTML(t *testing.T, s *e2eServer, slug string) string {
	t.Helper()
	path := devdocs.Page{Slug: slug}.Href()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := send(t, req)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", path, resp.StatusCode)
	}
	return string(body)
}

// runBrowserExample opens the example's URL as the signed-in user and
// allows access; the redirect back to the app must carry the state and the
// issuer, and gives the values of e.Sets.
func runBrowserExample(t *testing.T, s *e2eServer, e devdocs.Example, vars map[string]string) {
	req, err := e.Request(s.URL, vars)
	if err != nil {
		t.Fatal(err)
	}
	b := s.newBrowser(t)
	u := b.authorize(req.URL.String())
	q := u.Query()
	if q.Get("error") != "" {
		t.Fatalf("authorization failed: %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != vars["STATE"] || q.Get("iss") != s.URL {
		t.Fatalf("redirect %s: want state %q and iss %q", u, vars["STATE"], s.URL)
	}
	for name, param := range e.Sets {
		if q.Get(param) == "" {
			t.Fatalf("redirect %s lacks %s", u, param)
		}
		vars[name] = q.Get(param)
	}
}

// runExample sends the example's request and checks the documented answer.
func runExample(t *testing.T, s *e2eServer, e devdocs.Example, vars map[string]string) {
	req, err := e.Request(s.URL, vars)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := send(t, req.WithContext(t.Context()))
	if resp.StatusCode != e.Status {
		t.Fatalf("%s %s: status %d, documented %d: %s", req.Method, req.URL.Path, resp.StatusCode, e.Status, body)
	}
	for _, h := range e.Headers {
		if resp.Header.Get(h) == "" {
			t.Errorf("answer lacks the documented header %s", h)
		}
	}
	if len(e.Fields) == 0 && len(e.Want) == 0 && len(e.Sets) == 0 {
		return
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("answer is not a JSON object: %v: %s", err, body)
	}
	for _, f := range e.Fields {
		if _, ok := m[f]; !ok {
			t.Errorf("answer lacks the documented member %q: %s", f, body)
		}
	}
	for path, want := range e.Want {
		if w, ok := want.(string); ok {
			want = devdocs.Expand(w, vars)
		}
		if got := member(m, path); got != want {
			t.Errorf("%s = %v, documented %v", path, got, want)
		}
	}
	if code, ok := m["error"].(string); ok && !knownTokenError(resp.StatusCode, code) && e.Page != devdocs.PageRegistration {
		t.Errorf("error %d %q is not in the documented table (authz.TokenErrors)", resp.StatusCode, code)
	}
	for name, f := range e.Sets {
		v, ok := m[f].(string)
		if !ok || v == "" {
			t.Fatalf("answer lacks %s for $%s: %s", f, name, body)
		}
		vars[name] = v
	}
}

// send sends req and returns the answer with its body read.
func send(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// member returns the value at a dotted path ("error.code") of m.
func member(m map[string]any, path string) any {
	var cur any = m
	for _, k := range strings.Split(path, ".") {
		obj, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = obj[k]
	}
	return cur
}

// knownTokenError reports whether the docs' OAuth error table lists code
// with status.
func knownTokenError(status int, code string) bool {
	for _, e := range authz.TokenErrors {
		if e.Status == status && e.Code == code {
			return true
		}
	}
	return false
}
