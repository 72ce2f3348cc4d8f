package secret_test

import (
	"strings"
	"testing"

	"github.com/nextoria/authz/secret"
)

// The client-secret check runs on every token request and introspection, so
// it must cost microseconds: an HMAC-SHA-256 keyed from the system secret.

func BenchmarkHasherSum(b *testing.B) {
	keys, err := secret.DeriveKeys(strings.Repeat("s", 48))
	if err != nil {
		b.Fatal(err)
	}
	h := secret.NewHasher(keys.SecretHash)
	clientSecret := []byte(secret.Token())
	for b.Loop() {
		h.Sum(clientSecret)
	}
}

func BenchmarkHasherCompare(b *testing.B) {
	keys, err := secret.DeriveKeys(strings.Repeat("s", 48))
	if err != nil {
		b.Fatal(err)
	}
	h := secret.NewHasher(keys.SecretHash)
	clientSecret := []byte(secret.Token())
	stored := h.Sum(clientSecret)
	for b.Loop() {
		if err := h.Compare(b.Context(), stored, clientSecret); err != nil {
			b.Fatal(err)
		}
	}
}

// Password hashing is argon2id with 64 MiB and 3 passes: tens to hundreds of
// milliseconds and 64 MiB per call, by design. That is why passwords are
// checked only at sign-in and never on the token or introspection path.

func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := secret.HashPassword("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPassword(b *testing.B) {
	hash, err := secret.HashPassword("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		ok, err := secret.VerifyPassword(hash, "correct horse battery staple")
		if err != nil || !ok {
			b.Fatalf("VerifyPassword = %v, %v", ok, err)
		}
	}
}

// DeriveKeys runs once at start-up (and in every CLI command that needs keys).
func BenchmarkDeriveKeys(b *testing.B) {
	system := strings.Repeat("s", 48)
	for b.Loop() {
		if _, err := secret.DeriveKeys(system); err != nil {
			b.Fatal(err)
		}
	}
}
