package secret

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
	KeyLen  uint32
	SaltLen int
}

// DefaultArgon2 is what new password hashes use: OWASP's argon2id setting
// (19 MiB, 2 passes, 1 lane). Together with passwordSlots it bounds the
// memory that sign-ins can take: a burst of parallel sign-ins waits its turn
// instead of growing the process by 19 MiB per request.
var DefaultArgon2 = Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}

// passwordSlots limits concurrent argon2id computations to one per core.
var passwordSlots = make(chan struct{}, max(1, runtime.NumCPU()))

func withPasswordSlot[T any](f func() T) T {
	passwordSlots <- struct{}{}
	defer func() { <-passwordSlots }()
	return f()
}

// ErrPasswordFormat means a stored password hash could not be parsed.
var ErrPasswordFormat = errors.New("secret: malformed password hash")

// HashPassword returns a PHC-formatted argon2id hash of password.
func HashPassword(password string) (string, error) {
	return hashPassword(password, DefaultArgon2)
}

func hashPassword(password string, p Argon2Params) (string, error) {
	salt := Random(p.SaltLen)
	key := withPasswordSlot(func() []byte {
		return argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	})
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// VerifyPassword reports whether password matches the PHC-formatted hash, in
// constant time with respect to the derived key.
func VerifyPassword(hash, password string) (bool, error) {
	p, salt, want, err := parsePHC(hash)
	if err != nil {
		return false, err
	}
	got := withPasswordSlot(func() []byte {
		return argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	})
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

var (
	dummyOnce sync.Once
	dummyHash string
)

// BurnPasswordCheck spends the same time as VerifyPassword against a real
// hash. Sign-in calls it when the e-mail is unknown so that response time does
// not reveal which accounts exist.
func BurnPasswordCheck(password string) {
	dummyOnce.Do(func() { dummyHash, _ = HashPassword(Token()) })
	_, _ = VerifyPassword(dummyHash, password)
}

func parsePHC(s string) (Argon2Params, []byte, []byte, error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return Argon2Params{}, nil, nil, ErrPasswordFormat
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return Argon2Params{}, nil, nil, ErrPasswordFormat
	}
	var p Argon2Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return Argon2Params{}, nil, nil, ErrPasswordFormat
	}
	if p.Memory == 0 || p.Memory > 1<<22 || p.Time == 0 || p.Time > 16 || p.Threads == 0 {
		return Argon2Params{}, nil, nil, ErrPasswordFormat
	}
	enc := base64.RawStdEncoding
	salt, err := enc.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return Argon2Params{}, nil, nil, ErrPasswordFormat
	}
	key, err := enc.DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return Argon2Params{}, nil, nil, ErrPasswordFormat
	}
	return p, salt, key, nil
}
