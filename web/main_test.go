package web

import (
	"os"
	"testing"
	"time"

	"github.com/nextoria/authz/apps"
)

// TestMain gives logo uploads a long wait for an image slot: this package
// runs many uploads in parallel, under the race detector on two CPUs, and a
// refusal for a busy machine would test the machine, not the handlers.
// TestLogoUploadBusy fakes the refusal it checks.
func TestMain(m *testing.M) {
	apps.LogoSlotWait = 30 * time.Second
	os.Exit(m.Run())
}
