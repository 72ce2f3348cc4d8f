package web

import (
	"bytes"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"
	"github.com/gorilla/sessions"

	"github.com/nextoria/authz/secret"
)

func TestSessionSerializerRoundTrip(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		values map[any]any
		gob    bool // falls back to gob
	}{
		{name: "empty", values: map[any]any{}},
		{name: "signed in", values: map[any]any{keySID: strings.Repeat("s", 43), keyCSRF: strings.Repeat("c", 43)}},
		{name: "one-time secret", values: map[any]any{
			keySID: "sid", keyCSRF: "csrf", keyFlash: "Secret rotated.", keySecretApp: "app-1",
			keySecretValue: strings.Repeat("x", 200), keySecretAt: "1764633600",
		}},
		{name: "empty strings and bytes beyond ASCII", values: map[any]any{"": "", "ключ": "värde\x00\xff"}},
		{name: "a value that is not a string", values: map[any]any{"n": 42, "s": "x"}, gob: true},
		{name: "a key that is not a string", values: map[any]any{7: "x"}, gob: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := sessionSerializer{}.Serialize(tc.values)
			if err != nil {
				t.Fatalf("Serialize: %v", err)
			}
			if gotGob := len(b) > 0 && b[0] != sessionEncodingV1; gotGob != tc.gob {
				t.Errorf("encoded with gob: %v, want %v", gotGob, tc.gob)
			}
			got := map[any]any{}
			if err := (sessionSerializer{}).Deserialize(b, &got); err != nil {
				t.Fatalf("Deserialize: %v", err)
			}
			if !maps.Equal(got, tc.values) {
				t.Errorf("round trip = %v, want %v", got, tc.values)
			}
		})
	}
}

func TestSessionSerializerRefusesMalformed(t *testing.T) {
	t.Parallel()
	many := []byte{sessionEncodingV1}
	for i := range maxSessionEntries + 1 {
		many = append(many, 1, byte(i), 0)
	}
	for _, tc := range []struct {
		name string
		src  []byte
	}{
		{name: "key longer than the rest", src: []byte{sessionEncodingV1, 5, 'a', 'b'}},
		{name: "key without a value", src: []byte{sessionEncodingV1, 1, 'a'}},
		{name: "value longer than the rest", src: []byte{sessionEncodingV1, 1, 'a', 9, 'b'}},
		{name: "length that overflows", src: []byte{sessionEncodingV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{name: "too many entries", src: many},
		{name: "a key twice", src: []byte{sessionEncodingV1, 1, 'k', 1, 'a', 1, 'k', 1, 'b'}},
		{name: "not gob either", src: []byte{0x7f, 0x01, 0x02}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := map[any]any{"kept": "x"}
			if err := (sessionSerializer{}).Deserialize(tc.src, &got); err == nil {
				t.Errorf("Deserialize(%x) = %v, want an error", tc.src, got)
			}
		})
	}
}

// A cookie written before the encoding changed (gob) is still read: nobody
// is signed out by the upgrade.
func TestSessionCookieFromBeforeStillDecodes(t *testing.T) {
	t.Parallel()
	keys := secret.Keys{CookieHash: bytes.Repeat([]byte{1}, 32), CookieBlock: bytes.Repeat([]byte{2}, 32)}
	old := sessions.NewCookieStore(keys.CookieHash, keys.CookieBlock) // gob, as before
	w := httptest.NewRecorder()
	sess := sessions.NewSession(old, "nx_session")
	sess.Values[keySID] = "session-id"
	sess.Values[keyCSRF] = "csrf-seed"
	if err := old.Save(httptest.NewRequest(http.MethodGet, "/", nil), w, sess); err != nil {
		t.Fatal(err)
	}
	cookie := w.Result().Cookies()[0]

	store := newCookieStore(keys, false, time.Hour)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.AddCookie(cookie)
	got, err := store.New(r, "nx_session")
	if err != nil || got.IsNew || got.Values[keySID] != "session-id" || got.Values[keyCSRF] != "csrf-seed" {
		t.Fatalf("old cookie: %v (new %v), %v", got.Values, got.IsNew, err)
	}

	// Saved again, it is in the new encoding, and reads back.
	w = httptest.NewRecorder()
	if err := store.Save(r, w, got); err != nil {
		t.Fatal(err)
	}
	var plain map[any]any
	if err := securecookie.DecodeMulti("nx_session", w.Result().Cookies()[0].Value, &plain,
		securecookie.New(keys.CookieHash, keys.CookieBlock).SetSerializer(sessionSerializer{})); err != nil {
		t.Fatal(err)
	}
	if plain[keySID] != "session-id" {
		t.Errorf("re-saved cookie = %v", plain)
	}
}

func FuzzSessionSerializer(f *testing.F) {
	for _, v := range []map[any]any{{}, {keySID: "a", keyCSRF: "b"}} {
		b, _ := sessionSerializer{}.Serialize(v)
		f.Add(b)
	}
	f.Add([]byte{sessionEncodingV1, 0xff})
	f.Fuzz(func(t *testing.T, src []byte) {
		if len(src) == 0 || src[0] != sessionEncodingV1 {
			return // gob's own decoder
		}
		got := map[any]any{}
		if err := (sessionSerializer{}).Deserialize(src, &got); err != nil {
			return
		}
		b, err := sessionSerializer{}.Serialize(got)
		if err != nil {
			t.Fatalf("Serialize(%v): %v", got, err)
		}
		again := map[any]any{}
		if err := (sessionSerializer{}).Deserialize(b, &again); err != nil || !maps.Equal(again, got) {
			t.Fatalf("re-encoded %v decodes as %v, %v", got, again, err)
		}
	})
}

func BenchmarkSessionSerializer(b *testing.B) {
	values := map[any]any{keySID: strings.Repeat("s", 43), keyCSRF: strings.Repeat("c", 43)}
	for _, sz := range []struct {
		name string
		s    securecookie.Serializer
	}{{"gob", securecookie.GobEncoder{}}, {"nextoria", sessionSerializer{}}} {
		enc, _ := sz.s.Serialize(values)
		b.Run(sz.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var got map[any]any
				if err := sz.s.Deserialize(enc, &got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
