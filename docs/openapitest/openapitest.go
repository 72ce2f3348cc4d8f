// Package openapitest holds tests to the OpenAPI contract (docs/openapi.yaml):
// an http.RoundTripper that validates every JSON response it carries against
// the document, with getkin/kin-openapi (JSON Schema 2020-12 for OpenAPI 3.1).
package openapitest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/nextoria/authz/docs"
)

// Validator checks responses against the document.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
}

var (
	loadOnce sync.Once
	loaded   *Validator
	loadErr  error
)

// Load parses and validates docs/openapi.yaml once per process. The
// document's servers are dropped for routing, so that responses of test
// servers on any host and port are matched by path alone.
func Load() (*Validator, error) {
	loadOnce.Do(func() { loaded, loadErr = New(docs.OpenAPI) })
	return loaded, loadErr
}

// New builds a Validator of the document spec.
func New(spec []byte) (*Validator, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(spec)
	if err != nil {
		return nil, fmt.Errorf("openapitest: parse: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("openapitest: invalid document: %w", err)
	}
	doc.Servers = nil
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapitest: router: %w", err)
	}
	return &Validator{doc: doc, router: router}, nil
}

// IsJSON reports whether a Content-Type is JSON (application/json or a
// +json type such as application/jwk-set+json).
func IsJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// ErrUndocumented reports a JSON response of a route the document does not have.
var ErrUndocumented = errors.New("openapitest: JSON response of an undocumented route")

// Check validates one response (with its body) to req. Responses that are
// not JSON are not checked, and neither are 404 and 405 answers of routes
// the document does not have (nothing is there).
func (v *Validator) Check(req *http.Request, status int, header http.Header, body []byte) error {
	if !IsJSON(header.Get("Content-Type")) {
		return nil
	}
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
			return nil
		}
		return fmt.Errorf("%w: %s %s answered %d", ErrUndocumented, req.Method, req.URL.Path, status)
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: status,
		Header: header,
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
		},
	}
	input.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(req.Context(), input); err != nil {
		return fmt.Errorf("openapitest: %s %s → %d does not match docs/openapi.yaml: %w", req.Method, req.URL.Path, status, err)
	}
	return nil
}

// Transport is an http.RoundTripper that validates every JSON response it
// carries and reports each mismatch to Report.
type Transport struct {
	Base      http.RoundTripper
	Validator *Validator
	// Report receives each mismatch; a test fails on it.
	Report func(error)
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil || !IsJSON(resp.Header.Get("Content-Type")) || req.Method == http.MethodHead {
		return resp, err
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if rerr != nil {
		return resp, nil // the caller meets the read error's aftermath
	}
	if verr := t.Validator.Check(req, resp.StatusCode, resp.Header, body); verr != nil {
		t.Report(verr)
	}
	return resp, nil
}

// Mismatches collects the mismatches of a whole test binary, for a TestMain
// that wraps the process's default transport.
type Mismatches struct {
	mu   sync.Mutex
	errs []error
}

// Add records err.
func (m *Mismatches) Add(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.errs = append(m.errs, err)
}

// Err joins every mismatch recorded.
func (m *Mismatches) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return errors.Join(m.errs...)
}

// WrapDefault makes http.DefaultTransport (which http.DefaultClient,
// golang.org/x/oauth2 and every client without a Transport use) validate
// every JSON response against docs/openapi.yaml, recording mismatches in the
// returned Mismatches. Call it from TestMain before m.Run.
func WrapDefault() (*Mismatches, error) {
	v, err := Load()
	if err != nil {
		return nil, err
	}
	m := &Mismatches{}
	http.DefaultTransport = &Transport{Base: http.DefaultTransport, Validator: v, Report: m.Add}
	return m, nil
}

// Main runs a package's tests with http.DefaultTransport validating every
// JSON response (WrapDefault), and returns the exit code: a failure when a
// test failed or any response did not match. Use it as
//
//	func TestMain(m *testing.M) { os.Exit(openapitest.Main(m)) }
func Main(m *testing.M) int {
	mismatches, err := WrapDefault()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := m.Run()
	if err := mismatches.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: responses that do not match docs/openapi.yaml:\n%v\n", err)
		return 1
	}
	return code
}
