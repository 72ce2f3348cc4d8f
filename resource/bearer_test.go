package resource

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestBearerToken(t *testing.T) {
	t.Parallel()
	const key = "nxh_3kTMd0xYg3Y1cN7rZ6bM0q2Wf8hP5sJ4vL9aB1cD2eF3g0K1xq9"
	const jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl"
	tests := []struct {
		name    string
		headers []string // Authorization values; nil for none
		token   string
		err     error
	}{
		{"API key", []string{"Bearer " + key}, key, nil},
		{"JWT", []string{"Bearer " + jwt}, jwt, nil},
		{"lower-case scheme", []string{"bearer " + key}, key, nil},
		{"upper-case scheme", []string{"BEARER " + key}, key, nil},
		{"several spaces", []string{"Bearer   " + key}, key, nil},
		{"surrounding whitespace", []string{" \tBearer " + key + " "}, key, nil},
		{"base64 padding", []string{"Bearer abc+/=="}, "abc+/==", nil},
		{"b64token punctuation", []string{"Bearer a-b.c_d~e+f/g"}, "a-b.c_d~e+f/g", nil},

		{"no header", nil, "", errNoCredentials},
		{"empty header", []string{""}, "", errNoCredentials},
		{"blank header", []string{"   "}, "", errNoCredentials},
		{"Basic scheme", []string{"Basic dXNlcjpwYXNz"}, "", errNoCredentials},
		{"Token scheme", []string{"Token " + key}, "", errNoCredentials},
		{"scheme glued to token", []string{"Bearer" + key}, "", errNoCredentials},

		{"two headers", []string{"Bearer " + key, "Bearer " + key}, "", errMalformedCredentials},
		{"Bearer and Basic", []string{"Bearer " + key, "Basic dXNlcjpwYXNz"}, "", errMalformedCredentials},
		{"scheme only", []string{"Bearer"}, "", errMalformedCredentials},
		{"scheme and spaces", []string{"Bearer   "}, "", errMalformedCredentials},
		{"tab separator", []string{"Bearer\t" + key}, "", errMalformedCredentials},
		{"two tokens", []string{"Bearer " + key + " " + key}, "", errMalformedCredentials},
		{"comma", []string{"Bearer a,b"}, "", errMalformedCredentials},
		{"quoted token", []string{`Bearer "abc"`}, "", errMalformedCredentials},
		{"dollar", []string{"Bearer abc$def"}, "", errMalformedCredentials},
		{"padding in the middle", []string{"Bearer ab=c"}, "", errMalformedCredentials},
		{"padding only", []string{"Bearer ==="}, "", errMalformedCredentials},
		{"non-ASCII", []string{"Bearer abcé"}, "", errMalformedCredentials},
		{"invalid UTF-8", []string{"Bearer abc\xff"}, "", errMalformedCredentials},
		{"NUL", []string{"Bearer abc\x00def"}, "", errMalformedCredentials},
		{"too long", []string{"Bearer " + strings.Repeat("a", maxTokenLen+1)}, "", errMalformedCredentials},
		{"no scheme", []string{"=abc"}, "", errMalformedCredentials},
		{"other scheme, bad separator", []string{"Basic\tabc"}, "", errMalformedCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			for _, v := range tt.headers {
				h.Add("Authorization", v)
			}
			token, err := bearerToken(h)
			if token != tt.token || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
				t.Errorf("bearerToken(%q) = %q, %v; want %q, %v", tt.headers, token, err, tt.token, tt.err)
			}
		})
	}
	if token, _ := bearerToken(http.Header{"Authorization": {"Bearer " + strings.Repeat("a", maxTokenLen)}}); len(token) != maxTokenLen {
		t.Error("a token of the maximum length was refused")
	}
}

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"", "Bearer abc", "bearer abc==", "Bearer", "Basic x", "Bearer  a b", "Bearer\tx", "Bearer abc\xff", " Bearer x "} {
		f.Add(s, "")
		f.Add(s, "Bearer second")
	}
	f.Fuzz(func(t *testing.T, first, second string) {
		h := http.Header{}
		h.Add("Authorization", first)
		if second != "" {
			h.Add("Authorization", second)
		}
		token, err := bearerToken(h)
		if err != nil {
			if token != "" {
				t.Fatalf("token %q returned with error %v", token, err)
			}
			if !errors.Is(err, errNoCredentials) && !errors.Is(err, errMalformedCredentials) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if second != "" {
			t.Fatalf("two Authorization headers accepted: %q, %q", first, second)
		}
		if token == "" || len(token) > maxTokenLen || !isB64Token(token) || !strings.Contains(first, token) {
			t.Fatalf("bearerToken(%q) = %q", first, token)
		}
		if strings.ContainsAny(token, " \t\r\n\"\\,") {
			t.Fatalf("token %q holds a separator", token)
		}
		if !strings.EqualFold(strings.TrimLeft(first, " \t")[:6], "Bearer") {
			t.Fatalf("bearerToken(%q) accepted another scheme", first)
		}
		// The token alone, re-sent, parses to itself.
		if again, err := bearerToken(http.Header{"Authorization": {"Bearer " + token}}); err != nil || again != token {
			t.Fatalf("re-parsing %q = %q, %v", token, again, err)
		}
	})
}
