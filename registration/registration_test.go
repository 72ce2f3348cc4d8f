package registration_test

import (
	"net/netip"
	"regexp"
	"strings"
	"testing"

	"github.com/nextoria/authz/apikey"
	"github.com/nextoria/authz/registration"
)

func TestPublicAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr   string
		public bool
	}{
		{"93.184.215.14", true},
		{"2606:2800:21f:cb07:6820:80da:af6b:8b2c", true},
		{"127.0.0.1", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // cloud metadata
		{"fe80::1", false},
		{"fc00::1", false},
		{"224.0.0.1", false},
		{"ff02::1", false},
		{"0.0.0.0", false},
		{"::", false},
		{"100.64.0.1", false},
		{"198.18.0.1", false},
		{"255.255.255.255", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"64:ff9b::a00:1", false},
		{"2002:a00:1::", false},
	} {
		if got := registration.PublicAddress(netip.MustParseAddr(tc.addr)); got != tc.public {
			t.Errorf("PublicAddress(%s) = %v, want %v", tc.addr, got, tc.public)
		}
	}
}

func TestParseMetadata(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"minimal", `{"client_name":"A","redirect_uris":["https://a.example/cb"]}`, true},
		{"unknown fields ignored", `{"client_name":"A","software_statement":{"x":[1,{"y":2}]}}`, true},
		{"duplicate top-level key", `{"client_name":"A","client_name":"B"}`, false},
		{"duplicate nested key", `{"client_name":"A","extra":{"k":1,"k":2}}`, false},
		{"invalid UTF-8", "{\"client_name\":\"\xc3\x28\"}", false},
		{"array", `[]`, false},
		{"null", `null`, false},
		{"trailing garbage", `{"client_name":"A"}x`, false},
		{"two objects", `{}{}`, false},
		{"wrong type", `{"redirect_uris":"https://a.example/cb"}`, false},
		{"deep nesting", `{"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`, false},
		{"empty", ``, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := registration.ParseMetadata([]byte(tc.body))
			if (err == nil) != tc.ok {
				t.Fatalf("ParseMetadata = %v, want ok=%v", err, tc.ok)
			}
			if err != nil {
				re, isRE := err.(*registration.Error)
				if !isRE || re.Code != registration.CodeInvalidClientMetadata || re.Description == "" {
					t.Errorf("error %#v is not an invalid_client_metadata *Error", err)
				}
			}
		})
	}
}

// TestTokenFormats: both token kinds have the API-key shape with their own
// prefix, so scanners find them and tell them from API keys.
func TestTokenFormats(t *testing.T) {
	t.Parallel()
	for _, f := range []apikey.Format{registration.TokenFormat, registration.AccessTokenFormat} {
		tok, err := f.New()
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^` + f.Pattern() + `$`).MatchString(tok) {
			t.Errorf("%q does not match %s", tok, f.Pattern())
		}
		if _, err := f.Parse(tok); err != nil {
			t.Errorf("Parse(%q) = %v", tok, err)
		}
		if _, err := apikey.Parse(tok); err == nil {
			t.Errorf("%q parses as an API key", tok)
		}
		if _, err := f.Parse(tok[:len(tok)-1] + "0"); err == nil && tok[len(tok)-1] != '0' {
			t.Errorf("a mistyped token parses")
		}
	}
	if registration.TokenFormat.Prefix == registration.AccessTokenFormat.Prefix {
		t.Error("both token kinds share a prefix")
	}
}
