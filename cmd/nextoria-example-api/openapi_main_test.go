package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/nextoria/authz/docs/openapitest"
)

// TestMain holds every JSON response the tests of this package receive over
// http.DefaultTransport (http.DefaultClient, golang.org/x/oauth2, the e2e
// browser client) to docs/openapi.yaml: a mismatch fails the run.
func TestMain(m *testing.M) {
	mismatches, err := openapitest.WrapDefault()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := mismatches.Err(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: responses that do not match docs/openapi.yaml:\n%v\n", err)
		code = 1
	}
	os.Exit(code)
}
