package main

import (
	"os"
	"testing"
	"time"

	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/docs/openapitest"
)

// TestMain holds every JSON response the tests of this package receive over
// http.DefaultTransport (http.DefaultClient, golang.org/x/oauth2, clients
// without a Transport) to docs/openapi.yaml: a mismatch fails the run.
// Logo uploads wait long for an image slot, as in package web: the suite
// runs in parallel under the race detector, and a refusal for a busy machine
// would test the machine.
func TestMain(m *testing.M) {
	apps.LogoSlotWait = 30 * time.Second
	os.Exit(openapitest.Main(m))
}
