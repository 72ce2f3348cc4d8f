package apps

import (
	"bytes"
	"image/png"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/nextoria/authz/apps/appstest"
)

// threadCPU is the CPU time the calling OS thread has used
// (getrusage(RUSAGE_THREAD)); lock the goroutine to its thread around it.
func threadCPU(t *testing.T) time.Duration {
	t.Helper()
	const rusageThread = 1 // RUSAGE_THREAD, Linux only
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestNormalizeLogoCostIsBounded: a small JPEG of noise at the largest
// accepted size used to take seconds of CPU (best PNG compression of the
// full image) and to be stored as 1.2 MB. It is now scaled to the displayed
// size and stored under the byte cap, quickly.
func TestNormalizeLogoCostIsBounded(t *testing.T) {
	data := appstest.NoisyJPEG(MaxLogoSide, MaxLogoSide, 5)
	if len(data) > MaxLogoBytes {
		t.Fatalf("fixture is %d bytes, over the upload limit", len(data))
	}
	// CPU time of this thread, not wall time, which a busy machine
	// stretches at will. Decoding and encoding run on the calling goroutine.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start, wall := threadCPU(t), time.Now()
	logo, err := NormalizeLogo(data)
	used := threadCPU(t) - start
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d-byte JPEG of %dx%d noise: %v of CPU (%v wall), stored %d bytes",
		len(data), MaxLogoSide, MaxLogoSide, used, time.Since(wall), len(logo.Data))
	if len(logo.Data) > MaxStoredLogoBytes {
		t.Errorf("stored %d bytes, want at most %d", len(logo.Data), MaxStoredLogoBytes)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(logo.Data))
	if err != nil || cfg.Width != StoredLogoSide || cfg.Height != StoredLogoSide {
		t.Errorf("stored %dx%d (%v), want %dx%d", cfg.Width, cfg.Height, err, StoredLogoSide, StoredLogoSide)
	}
	// The old encoding took about 4 s of CPU (far more under the race
	// detector); this takes tens of milliseconds.
	limit := 500 * time.Millisecond
	if raceDetector {
		limit = 3 * time.Second
	}
	if used > limit {
		t.Errorf("normalizing took %v of CPU, want well under a second", used)
	}
}
