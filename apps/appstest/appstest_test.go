package appstest_test

import (
	"errors"
	"testing"

	"github.com/nextoria/authz/apps"
	"github.com/nextoria/authz/apps/appstest"
)

// TestFixtures keeps the fixtures honest: each is what its name says for
// apps.NormalizeLogo.
func TestFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		data []byte
		want error // nil: accepted
	}{
		{"png", appstest.PNG(64, 64), nil},
		{"oversized", appstest.Oversized(apps.MaxLogoBytes + 1), apps.ErrLogoTooLarge},
		{"svg", []byte(appstest.SVG), apps.ErrLogoFormat},
		{"png header then html", appstest.PNGHeaderThenHTML(), apps.ErrLogoFormat},
		{"bomb", appstest.PNGBomb(), apps.ErrLogoDimensions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := apps.NormalizeLogo(tt.data)
			if (tt.want == nil && err != nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Errorf("NormalizeLogo = %v, want %v", err, tt.want)
			}
		})
	}
	if n := len(appstest.PNGBomb()); n > apps.MaxLogoBytes {
		t.Errorf("the bomb is %d bytes: it must fit the size limit to test the dimension check", n)
	}
}
