package secret

import (
	"bytes"
	"strings"
	"testing"
)

func TestDeriveKeys(t *testing.T) {
	t.Parallel()
	if _, err := DeriveKeys(strings.Repeat("x", MinSystemSecretLen-1)); err == nil {
		t.Fatal("a short system secret was accepted")
	}
	a, err := DeriveKeys(strings.Repeat("x", 40))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := DeriveKeys(strings.Repeat("x", 40))
	c, _ := DeriveKeys(strings.Repeat("y", 40))
	if !bytes.Equal(a.SecretHash, b.SecretHash) {
		t.Fatal("derivation is not deterministic")
	}
	if bytes.Equal(a.SecretHash, c.SecretHash) {
		t.Fatal("different system secrets gave the same key")
	}
	keys := [][]byte{a.TokenHMAC, a.SecretHash, a.Seal, a.CookieHash, a.CookieBlock, a.CSRF}
	for i := range keys {
		if len(keys[i]) != 32 {
			t.Errorf("key %d has %d bytes", i, len(keys[i]))
		}
		for j := range i {
			if bytes.Equal(keys[i], keys[j]) {
				t.Errorf("keys %d and %d are equal: purposes must be separated", i, j)
			}
		}
	}
}

func TestHasher(t *testing.T) {
	t.Parallel()
	h := NewHasher(bytes.Repeat([]byte{1}, 32))
	other := NewHasher(bytes.Repeat([]byte{2}, 32))
	sec := []byte(Token())
	sum, err := h.Hash(t.Context(), sec)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		hash []byte
		data []byte
		ok   bool
	}{
		{"match", sum, sec, true},
		{"wrong secret", sum, []byte(Token()), false},
		{"other key", other.Sum(sec), sec, false},
		{"empty hash", nil, sec, false},
		{"empty hash and data", nil, nil, false},
		{"truncated hash", sum[:16], sec, false},
	}
	for _, tt := range tests {
		if err := h.Compare(t.Context(), tt.hash, tt.data); (err == nil) != tt.ok {
			t.Errorf("%s: Compare = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestTokensAreDistinctAndURLSafe(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 100 {
		tok := Token()
		if len(tok) != 43 || strings.ContainsAny(tok, "+/=") {
			t.Fatalf("token %q is not 43 base64url characters", tok)
		}
		if seen[tok] {
			t.Fatal("duplicate token")
		}
		seen[tok] = true
	}
	if got := HexToken(12); len(got) != 24 {
		t.Fatalf("HexToken(12) = %q", got)
	}
}

func TestPassword(t *testing.T) {
	t.Parallel()
	hash, err := hashPassword("correct horse", Argon2Params{Memory: 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("hash %q is not PHC argon2id", hash)
	}
	again, _ := hashPassword("correct horse", Argon2Params{Memory: 1024, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16})
	if again == hash {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	tests := []struct {
		name, hash, password string
		ok                   bool
		wantErr              bool
	}{
		{"right", hash, "correct horse", true, false},
		{"wrong", hash, "correct horsf", false, false},
		{"empty password", hash, "", false, false},
		{"bcrypt hash", "$2a$12$abcdefghijklmnopqrstuuFqJ1Hq5PjQW0ObcqWc2q5H7t/qZ0d9y", "x", false, true},
		{"garbage", "not a hash", "x", false, true},
		{"huge memory", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "x", false, true},
		{"bad salt", "$argon2id$v=19$m=1024,t=1,p=1$!!$aGFzaGhhc2hoYXNoaGFzaA", "x", false, true},
		{"old version", strings.Replace(hash, "v=19", "v=16", 1), "correct horse", false, true},
	}
	for _, tt := range tests {
		ok, err := VerifyPassword(tt.hash, tt.password)
		if ok != tt.ok || (err != nil) != tt.wantErr {
			t.Errorf("%s: VerifyPassword = %v, %v", tt.name, ok, err)
		}
	}
}

func TestSeal(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte{7}, 32)
	sealed, err := Seal(key, []byte("private key"), []byte("kid-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("private key")) {
		t.Fatal("plaintext visible in sealed data")
	}
	if pt, err := Open(key, sealed, []byte("kid-1")); err != nil || string(pt) != "private key" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	tampered := append([]byte(nil), sealed...)
	tampered[len(tampered)-1] ^= 1
	for name, f := range map[string]func() ([]byte, error){
		"other additional data": func() ([]byte, error) { return Open(key, sealed, []byte("kid-2")) },
		"other key":             func() ([]byte, error) { return Open(bytes.Repeat([]byte{8}, 32), sealed, []byte("kid-1")) },
		"tampered":              func() ([]byte, error) { return Open(key, tampered, []byte("kid-1")) },
		"too short":             func() ([]byte, error) { return Open(key, sealed[:5], []byte("kid-1")) },
	} {
		if _, err := f(); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
}

// FuzzVerifyPassword: any stored string is either rejected as malformed or
// checked; nothing panics or allocates without bound.
func FuzzVerifyPassword(f *testing.F) {
	f.Add("$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "pw")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$$", "")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, hash, password string) {
		p, _, _, err := parsePHC(hash)
		if err != nil {
			return
		}
		if p.Memory > 1<<22 || p.Time > 16 {
			t.Fatalf("parsePHC accepted costly parameters %+v", p)
		}
	})
}
