package apikey_test

import (
	"bytes"
	"testing"

	"github.com/nextoria/authz/apikey"
	"github.com/nextoria/authz/secret"
)

// BenchmarkParseAndHash is what every API-key lookup does before its one
// query: check the format and checksum, then compute the keyed hash.
func BenchmarkParseAndHash(b *testing.B) {
	key, err := apikey.New()
	if err != nil {
		b.Fatal(err)
	}
	h := secret.NewHasher(bytes.Repeat([]byte{1}, 32))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := apikey.Parse(key); err != nil {
			b.Fatal(err)
		}
		_ = h.Sum([]byte(key))
	}
}
