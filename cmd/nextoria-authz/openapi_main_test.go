package main

import (
	"os"
	"testing"

	"github.com/nextoria/authz/docs/openapitest"
)

// TestMain holds every JSON response the tests of this package receive over
// http.DefaultTransport (http.DefaultClient, golang.org/x/oauth2, clients
// without a Transport) to docs/openapi.yaml: a mismatch fails the run.
func TestMain(m *testing.M) { os.Exit(openapitest.Main(m)) }
