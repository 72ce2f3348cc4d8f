package apps

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"sync"
	"testing"
	"time"

	"github.com/nextoria/authz/apps/appstest"
)

func TestNormalizeLogoScalesDown(t *testing.T) {
	t.Parallel()
	checker := image.NewRGBA(image.Rect(0, 0, 512, 512))
	for y := range 512 {
		for x := range 512 {
			if (x+y)%2 == 0 {
				checker.Set(x, y, color.White)
			} else {
				checker.Set(x, y, color.Black)
			}
		}
	}
	tests := []struct {
		name         string
		data         []byte
		wantW, wantH int
	}{
		{"square", appstest.PNG(1024, 1024), 256, 256},
		{"wide", appstest.PNG(1000, 500), 256, 128},
		{"tall", appstest.PNG(300, 900), 85, 256},
		{"thin", appstest.PNG(1024, 16), 256, 4},
		{"just over", appstest.PNG(257, 257), 256, 256},
		{"at the limit", appstest.PNG(256, 200), 256, 200},
		{"small", appstest.PNG(64, 48), 64, 48},
		{"checkerboard", encodePNG(t, checker), 256, 256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logo, err := NormalizeLogo(tt.data)
			if err != nil {
				t.Fatal(err)
			}
			img, err := png.Decode(bytes.NewReader(logo.Data))
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != tt.wantW || b.Dy() != tt.wantH {
				t.Fatalf("stored %dx%d, want %dx%d", b.Dx(), b.Dy(), tt.wantW, tt.wantH)
			}
			if tt.name == "checkerboard" {
				// Box filtering averages each 2×2 block to mid grey; point
				// sampling would give solid white or black.
				r, g, b, a := img.At(100, 37).RGBA()
				if a != 0xffff || r>>8 < 120 || r>>8 > 135 || g != r || b != r {
					t.Errorf("pixel = %x %x %x %x, want opaque mid grey", r, g, b, a)
				}
			}
		})
	}
}

// TestNormalizeLogoContextSlots: image work waits for one of a bounded
// number of slots and gives up when the request ends.
func TestNormalizeLogoContextSlots(t *testing.T) {
	// Not parallel: it takes every slot.
	for range cap(imageSlots) {
		imageSlots <- struct{}{}
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			for range cap(imageSlots) {
				<-imageSlots
			}
		})
	}
	t.Cleanup(release)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := NormalizeLogoContext(ctx, appstest.PNG(32, 32)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("with every slot taken: err = %v, want the context's deadline", err)
	}
	start := time.Now()
	if _, err := NormalizeLogoContext(t.Context(), appstest.PNG(32, 32)); !errors.Is(err, ErrLogoBusy) {
		t.Fatalf("with every slot taken: err = %v, want ErrLogoBusy", err)
	}
	if d := time.Since(start); d < LogoSlotWait || d > LogoSlotWait+2*time.Second {
		t.Errorf("gave up after %v, want about %v", d, LogoSlotWait)
	}
	release()
	if _, err := NormalizeLogoContext(t.Context(), appstest.PNG(32, 32)); err != nil {
		t.Fatalf("with free slots: %v", err)
	}
}
