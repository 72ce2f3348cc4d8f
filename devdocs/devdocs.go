// Package devdocs owns the copyable examples of the developer documentation
// served under /docs. Each example is data (method, URL, credentials, form or
// JSON body, with $PLACEHOLDERS for the values a reader supplies) from which
// both the text a reader copies (a curl command or an authorize URL) and the
// request the tests send to a live server are made, so that a documented
// example cannot stop working unnoticed.
package devdocs

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Param is one named value of a query string or form body. Value may
// contain placeholders.
type Param struct {
	Name, Value string
}

// Example is one copyable request of the documentation.
type Example struct {
	// ID is unique and stable: the HTML anchor and the test's name.
	ID string
	// Page is the slug of the docs page that shows the example.
	Page string
	// Title says what the example does.
	Title string
	// Browser marks an URL opened in a browser (the authorization
	// request) rather than a command: it is shown as a URL, and the test
	// drives it through sign-in and consent.
	Browser bool
	// Method is the HTTP method; GET when empty.
	Method string
	// Path is appended to the issuer URL. A path that starts with a
	// placeholder ("$REGISTRATION_CLIENT_URI") is a whole URL of its own.
	Path string
	// Query is the URL's query string.
	Query []Param
	// User and Password are HTTP Basic credentials (RFC 6749 §2.3.1).
	User, Password string
	// Bearer is sent as "Authorization: Bearer <Bearer>".
	Bearer string
	// Header holds other request headers.
	Header []Param
	// Form is an application/x-www-form-urlencoded body.
	Form []Param
	// JSON is an application/json body.
	JSON string
	// Status is the documented status of the answer.
	Status int
	// Fields are the top-level members the JSON answer documents: each must
	// be present. Want holds exact values some of them must have.
	Fields []string
	Want   map[string]any
	// Headers are response headers the answer documents: each must be set.
	Headers []string
	// Sets names the placeholders an answer provides to the examples after
	// it: placeholder → member of the JSON answer (or, for a Browser
	// example, query parameter of the redirect back to the app).
	Sets map[string]string
	// Response is the sample answer shown under the example.
	Response string
	// Requires is a member of the server's metadata document
	// (/.well-known/oauth-authorization-server) that names the endpoint the
	// example calls. Until the server publishes it, the example is shown
	// but its test is skipped.
	Requires string
}

// placeholder matches $NAME in an example's values.
var placeholder = regexp.MustCompile(`\$[A-Z][A-Z0-9_]*`)

// Placeholders lists the distinct placeholders the example uses, in order of
// first use.
func (e Example) Placeholders() []string {
	var out []string
	add := func(s string) {
		for _, p := range placeholder.FindAllString(s, -1) {
			if name := p[1:]; !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	add(e.Path)
	for _, p := range e.Query {
		add(p.Value)
	}
	add(e.User)
	add(e.Password)
	add(e.Bearer)
	for _, p := range e.Header {
		add(p.Value)
	}
	for _, p := range e.Form {
		add(p.Value)
	}
	add(e.JSON)
	return out
}

func (e Example) method() string {
	if e.Method == "" {
		return http.MethodGet
	}
	return e.Method
}

// wholeURL reports whether Path is a whole URL given by a placeholder.
func (e Example) wholeURL() bool { return strings.HasPrefix(e.Path, "$") }

// URL is the example's URL on the server at issuer, placeholders kept, as a
// reader sees it. Query values are encoded, except the placeholders and the
// colons of scope names, which need no encoding.
func (e Example) URL(issuer string) string {
	u := e.Path
	if !e.wholeURL() {
		u = strings.TrimSuffix(issuer, "/") + e.Path
	}
	for i, p := range e.Query {
		sep := "&"
		if i == 0 {
			sep = "?"
		}
		v := p.Value
		if !placeholder.MatchString(v) {
			v = strings.ReplaceAll(url.QueryEscape(v), "%3A", ":")
		}
		u += sep + p.Name + "=" + v
	}
	return u
}

// Curl is the example as a curl command for a POSIX shell, against the
// server at issuer. Placeholders become shell variables inside double
// quotes, so the command runs as shown once they are set.
func (e Example) Curl(issuer string) string {
	var b strings.Builder
	b.WriteString("curl -s")
	if e.method() != http.MethodGet && !(e.method() == http.MethodPost && (len(e.Form) > 0 || e.JSON != "")) {
		b.WriteString(" -X " + e.method())
	}
	b.WriteString(" " + shellQuote(e.URL(issuer)))
	line := func(s string) { b.WriteString(" \\\n  " + s) }
	if e.User != "" {
		line("-u " + shellQuote(e.User+":"+e.Password))
	}
	if e.Bearer != "" {
		line("-H " + shellQuote("Authorization: Bearer "+e.Bearer))
	}
	for _, p := range e.Header {
		line("-H " + shellQuote(p.Name+": "+p.Value))
	}
	for _, p := range e.Form {
		line("--data-urlencode " + shellQuote(p.Name+"="+p.Value))
	}
	if e.JSON != "" {
		line("-H 'Content-Type: application/json'")
		line("--data-binary @- <<EOF\n" + strings.TrimSpace(e.JSON) + "\nEOF")
	}
	return b.String()
}

// shellQuote quotes s for a POSIX shell: in double quotes when it holds a
// placeholder (so that the shell expands it), in single quotes otherwise.
func shellQuote(s string) string {
	if placeholder.MatchString(s) {
		r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "`", "\\`")
		return `"` + r.Replace(s) + `"`
	}
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@%+,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Fill replaces every placeholder of s with its value from vars. A
// placeholder without a value is an error, naming it.
func Fill(s string, vars map[string]string) (string, error) {
	var missing []string
	out := placeholder.ReplaceAllStringFunc(s, func(p string) string {
		v, ok := vars[p[1:]]
		if !ok {
			missing = append(missing, p[1:])
			return p
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("devdocs: no value for %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// Expand replaces the placeholders of s that vars has a value for and keeps
// the others: the pages show the real issuer URL in sample answers and
// leave the reader's values as placeholders.
func Expand(s string, vars map[string]string) string {
	return placeholder.ReplaceAllStringFunc(s, func(p string) string {
		if v, ok := vars[p[1:]]; ok {
			return v
		}
		return p
	})
}

// Request is the request the example describes, against the server at
// issuer, with the placeholders filled from vars. For a Browser example it
// is the GET of the filled URL.
func (e Example) Request(issuer string, vars map[string]string) (*http.Request, error) {
	fill := func(s string) (string, error) { return Fill(s, vars) }
	raw, err := fill(e.Path)
	if err != nil {
		return nil, err
	}
	if !e.wholeURL() {
		raw = strings.TrimSuffix(issuer, "/") + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("devdocs: example %s: %w", e.ID, err)
	}
	if len(e.Query) > 0 {
		q := u.Query()
		for _, p := range e.Query {
			v, err := fill(p.Value)
			if err != nil {
				return nil, err
			}
			q.Add(p.Name, v)
		}
		u.RawQuery = q.Encode()
	}
	var body string
	var contentType string
	switch {
	case len(e.Form) > 0:
		form := url.Values{}
		for _, p := range e.Form {
			v, err := fill(p.Value)
			if err != nil {
				return nil, err
			}
			form.Add(p.Name, v)
		}
		body, contentType = form.Encode(), "application/x-www-form-urlencoded"
	case e.JSON != "":
		// JSON values are filled as JSON string contents.
		j, err := Fill(e.JSON, jsonEscaped(vars))
		if err != nil {
			return nil, err
		}
		body, contentType = j, "application/json"
	}
	req, err := http.NewRequest(e.method(), u.String(), strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("devdocs: example %s: %w", e.ID, err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if e.User != "" {
		user, err := fill(e.User)
		if err != nil {
			return nil, err
		}
		pass, err := fill(e.Password)
		if err != nil {
			return nil, err
		}
		req.SetBasicAuth(user, pass)
	}
	if e.Bearer != "" {
		tok, err := fill(e.Bearer)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for _, p := range e.Header {
		v, err := fill(p.Value)
		if err != nil {
			return nil, err
		}
		req.Header.Set(p.Name, v)
	}
	return req, nil
}

// jsonEscaped returns vars with each value escaped for use inside a JSON
// string.
func jsonEscaped(vars map[string]string) map[string]string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	out := make(map[string]string, len(vars))
	for k, v := range vars {
		out[k] = r.Replace(v)
	}
	return out
}

// ErrorCode is one documented error code: its HTTP status, the code and what
// it means for the caller.
type ErrorCode struct {
	Status  int
	Code    string
	Meaning string
}

// ForPage returns the examples shown on the docs page slug, in order.
func ForPage(slug string) []Example {
	var out []Example
	for _, e := range Examples {
		if e.Page == slug {
			out = append(out, e)
		}
	}
	return out
}

// ByID returns the example with id.
func ByID(id string) (Example, bool) {
	for _, e := range Examples {
		if e.ID == id {
			return e, true
		}
	}
	return Example{}, false
}
