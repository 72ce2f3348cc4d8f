package apps

import (
	"strings"
	"testing"
)

func TestValidateProfile(t *testing.T) {
	t.Parallel()
	base := Registration{Name: "Acme", RedirectURIs: []string{"https://acme.example/cb"}, Scopes: []string{"projects:read"}}
	tests := []struct {
		name      string
		profile   Profile
		wantField string // "" means valid
		wantMsg   string
	}{
		{"empty", Profile{}, "", ""},
		{"all set", Profile{HomepageURL: "https://acme.example/", PrivacyURL: "https://acme.example/privacy?x=1",
			Description: "Keeps your Acme tasks in sync — both ways."}, "", ""},
		{"surrounding spaces are trimmed", Profile{HomepageURL: "  https://acme.example/ ", Description: "  One line.  "}, "", ""},
		{"description of 140 characters", Profile{Description: strings.Repeat("é", 140)}, "", ""},

		{"http homepage", Profile{HomepageURL: "http://acme.example/"}, FieldHomepageURL, "https://"},
		{"javascript privacy URL", Profile{PrivacyURL: "javascript:alert(1)"}, FieldPrivacyURL, "https://"},
		{"relative homepage", Profile{HomepageURL: "/about"}, FieldHomepageURL, "https://"},
		{"no host", Profile{PrivacyURL: "https:///privacy"}, FieldPrivacyURL, "https://"},
		{"credentials", Profile{HomepageURL: "https://user:pw@acme.example/"}, FieldHomepageURL, "user name"},
		{"space inside URL", Profile{HomepageURL: "https://acme.example/a b"}, FieldHomepageURL, "spaces"},
		{"URL too long", Profile{PrivacyURL: "https://acme.example/" + strings.Repeat("a", 2000)}, FieldPrivacyURL, "2000"},
		{"description too long", Profile{Description: strings.Repeat("a", 141)}, FieldDescription, "140"},
		{"description on two lines", Profile{Description: "one\ntwo"}, FieldDescription, "single line"},
		{"description with a control character", Profile{Description: "bell\a"}, FieldDescription, "control"},
		{"description with a line separator", Profile{Description: "one\u2028two"}, FieldDescription, "single line"},
		{"description not UTF-8", Profile{Description: "bad \xff"}, FieldDescription, "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := base
			r.Profile = tt.profile
			fe := Validate(r)
			if tt.wantField == "" {
				if fe != nil {
					t.Fatalf("Validate = %v, want nil", fe)
				}
				return
			}
			if len(fe) != 1 || !strings.Contains(fe[tt.wantField], tt.wantMsg) {
				t.Fatalf("Validate = %v, want one error on %s containing %q", fe, tt.wantField, tt.wantMsg)
			}
			// Updates apply the same rules.
			u := Update{Name: r.Name, RedirectURIs: r.RedirectURIs, Scopes: r.Scopes, Profile: tt.profile}
			if fe := ValidateUpdate(u); fe[tt.wantField] == "" {
				t.Errorf("ValidateUpdate = %v, want an error on %s", fe, tt.wantField)
			}
		})
	}
}
