package devdocs

import (
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestCurl(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		e    Example
		want string
	}{
		{"get", Example{Path: "/.well-known/jwks.json"}, `curl -s https://auth.example.com/.well-known/jwks.json`},
		{"form and basic", Example{
			Method: http.MethodPost, Path: "/v1/oauth/token", User: "$CLIENT_ID", Password: "$CLIENT_SECRET",
			Form: []Param{{"grant_type", "refresh_token"}, {"refresh_token", "$REFRESH_TOKEN"}},
		}, `curl -s https://auth.example.com/v1/oauth/token \
  -u "$CLIENT_ID:$CLIENT_SECRET" \
  --data-urlencode grant_type=refresh_token \
  --data-urlencode "refresh_token=$REFRESH_TOKEN"`},
		{"bearer on a whole URL", Example{Path: "$API_URL/v1/projects", Bearer: "$API_KEY", Header: []Param{{"Content-Type", "application/json"}}},
			`curl -s "$API_URL/v1/projects" \
  -H "Authorization: Bearer $API_KEY" \
  -H 'Content-Type: application/json'`},
		{"delete", Example{Method: http.MethodDelete, Path: "$URI", Bearer: "$TOKEN"},
			`curl -s -X DELETE "$URI" \
  -H "Authorization: Bearer $TOKEN"`},
		{"json put", Example{Method: http.MethodPut, Path: "/r", JSON: `{"a": "$X"}`},
			`curl -s -X PUT https://auth.example.com/r \
  -H 'Content-Type: application/json' \
  --data-binary @- <<EOF
{"a": "$X"}
EOF`},
		{"quotes", Example{Method: http.MethodPost, Path: "/t", Form: []Param{{"scope", "a b"}, {"q", `it's "$X"`}}},
			`curl -s https://auth.example.com/t \
  --data-urlencode 'scope=a b' \
  --data-urlencode "q=it's \"$X\""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.Curl("https://auth.example.com/"); got != tt.want {
				t.Errorf("Curl =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestURL(t *testing.T) {
	t.Parallel()
	e := Example{Path: "/oauth/authorize", Query: []Param{{"client_id", "$CLIENT_ID"}, {"scope", "projects:read tasks:read"}, {"x", "a&b"}}}
	want := "https://auth.example.com/oauth/authorize?client_id=$CLIENT_ID&scope=projects:read+tasks:read&x=a%26b"
	if got := e.URL("https://auth.example.com"); got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
}

func TestRequest(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"CLIENT_ID": "app 1", "CLIENT_SECRET": "s3cret", "CODE": "c&d=e", "NAME": `Acme "Sync"`, "URI": "https://h.example/r/1"}
	t.Run("form", func(t *testing.T) {
		e := Example{Method: http.MethodPost, Path: "/v1/oauth/token", User: "$CLIENT_ID", Password: "$CLIENT_SECRET",
			Form: []Param{{"grant_type", "authorization_code"}, {"code", "$CODE"}}}
		req, err := e.Request("http://127.0.0.1:1", vars)
		if err != nil {
			t.Fatal(err)
		}
		if req.Method != http.MethodPost || req.URL.String() != "http://127.0.0.1:1/v1/oauth/token" {
			t.Errorf("%s %s", req.Method, req.URL)
		}
		if u, p, _ := req.BasicAuth(); u != "app 1" || p != "s3cret" {
			t.Errorf("basic auth %q %q", u, p)
		}
		if err := req.ParseForm(); err != nil {
			t.Fatal(err)
		}
		if req.PostForm.Get("code") != "c&d=e" || req.PostForm.Get("grant_type") != "authorization_code" {
			t.Errorf("form = %v", req.PostForm)
		}
	})
	t.Run("json", func(t *testing.T) {
		e := Example{Method: http.MethodPut, Path: "$URI", Bearer: "$CODE", JSON: `{"client_name": "$NAME"}`, Header: []Param{{"X-Name", "$NAME"}}}
		req, err := e.Request("http://ignored", vars)
		if err != nil {
			t.Fatal(err)
		}
		if req.URL.String() != vars["URI"] || req.Header.Get("Authorization") != "Bearer c&d=e" || req.Header.Get("Content-Type") != "application/json" || req.Header.Get("X-Name") != vars["NAME"] {
			t.Errorf("%s %v", req.URL, req.Header)
		}
		b, _ := io.ReadAll(req.Body)
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil || m["client_name"] != vars["NAME"] {
			t.Errorf("body %s: %v", b, err)
		}
	})
	t.Run("query", func(t *testing.T) {
		e := Example{Path: "/oauth/authorize", Query: []Param{{"client_id", "$CLIENT_ID"}, {"scope", "projects:read tasks:read"}}}
		req, err := e.Request("http://h", vars)
		if err != nil {
			t.Fatal(err)
		}
		if q := req.URL.Query(); q.Get("client_id") != "app 1" || q.Get("scope") != "projects:read tasks:read" {
			t.Errorf("query = %v", q)
		}
	})
	t.Run("missing value", func(t *testing.T) {
		e := Example{Path: "/x", Bearer: "$MISSING"}
		if _, err := e.Request("http://h", vars); err == nil || !strings.Contains(err.Error(), "MISSING") {
			t.Errorf("err = %v, want one naming MISSING", err)
		}
	})
}

// TestExamples checks the catalogue itself: unique ids, known pages, a
// documented status, and every placeholder either provided by the reader or
// set by an earlier example.
func TestExamples(t *testing.T) {
	t.Parallel()
	readerValues := []string{"ISSUER", "CLIENT_ID", "CLIENT_SECRET", "REDIRECT_URI", "STATE", "CODE_VERIFIER", "CODE_CHALLENGE",
		"RS_CLIENT_ID", "RS_CLIENT_SECRET", "API_KEY", "API_URL", "INITIAL_ACCESS_TOKEN", "NONCE"}
	known := slices.Clone(readerValues)
	ids := map[string]bool{}
	var pages []string
	for _, p := range Pages {
		pages = append(pages, p.Slug)
	}
	for _, e := range Examples {
		if ids[e.ID] {
			t.Errorf("duplicate example id %q", e.ID)
		}
		ids[e.ID] = true
		if !slices.Contains(pages, e.Page) {
			t.Errorf("example %s: unknown page %q", e.ID, e.Page)
		}
		if !e.Browser && e.Status == 0 {
			t.Errorf("example %s documents no status", e.ID)
		}
		for _, p := range e.Placeholders() {
			if !slices.Contains(known, p) {
				t.Errorf("example %s uses $%s before any example sets it", e.ID, p)
			}
		}
		for p := range e.Sets {
			known = append(known, p)
		}
	}
}

// TestCurlRunsInShell: the curl text is valid POSIX shell, and expands to
// the same request as Request: it is run with a stand-in for curl that
// prints its arguments.
func TestCurlRunsInShell(t *testing.T) {
	t.Parallel()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, e := range Examples {
		if e.Browser {
			continue
		}
		t.Run(e.ID, func(t *testing.T) {
			script := "curl() { for a in \"$@\"; do printf '%s\\n' \"$a\"; done; cat; }\n" + e.Curl("https://auth.example.com")
			cmd := exec.Command(sh, "-c", script)
			cmd.Stdin = strings.NewReader("")
			vars := map[string]string{}
			for _, p := range e.Placeholders() {
				vars[p] = "v-" + strings.ToLower(p)
				if strings.HasSuffix(p, "_URL") || strings.HasSuffix(p, "_URI") {
					vars[p] = "https://rs.example/" + strings.ToLower(p)
				}
				cmd.Env = append(cmd.Env, p+"="+vars[p])
			}
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("sh: %v\n%s", err, script)
			}
			req, err := e.Request("https://auth.example.com", vars)
			if err != nil {
				t.Fatal(err)
			}
			args := string(out)
			if !strings.Contains(args, "\n"+req.URL.Scheme+"://"+req.URL.Host+req.URL.Path) {
				t.Errorf("curl arguments lack the URL %s:\n%s", req.URL, args)
			}
			for _, p := range e.Form {
				v, _ := Fill(p.Value, vars)
				if !strings.Contains(args, "\n"+p.Name+"="+v+"\n") {
					t.Errorf("curl arguments lack %s=%s:\n%s", p.Name, v, args)
				}
			}
			if e.JSON != "" {
				j, _ := Fill(e.JSON, vars)
				if !strings.Contains(args, strings.TrimSpace(j)) {
					t.Errorf("curl's body is not the JSON:\n%s", args)
				}
			}
		})
	}
}
