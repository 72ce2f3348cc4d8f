package web

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/gorilla/securecookie"
)

// sessionSerializer encodes the session cookie's values, which are all
// strings keyed by strings, as a version byte (0) followed by each key and
// value, length-prefixed. gob, securecookie's default, sends the map's type
// description in every cookie and compiles a decoder for it on every
// request: a tenth of the CPU of an authorization request for a signed-in
// user. Values of any other type are still encoded with gob, and cookies
// written with gob (before this encoding, or for such values) still decode:
// a gob stream never starts with a 0 byte, as it starts with the length of
// its first message.
type sessionSerializer struct{}

// sessionEncodingV1 is the first byte of a cookie in this encoding.
const sessionEncodingV1 = 0

// maxSessionEntries bounds what a cookie may declare; a cookie is at most
// 4 KB, so a real one has a handful.
const maxSessionEntries = 64

var errSessionEncoding = errors.New("web: malformed session cookie values")

// Serialize encodes src, a session's map of values.
func (sessionSerializer) Serialize(src any) ([]byte, error) {
	values, ok := src.(map[any]any)
	if !ok {
		return securecookie.GobEncoder{}.Serialize(src)
	}
	size := 1
	for k, v := range values {
		ks, kok := k.(string)
		vs, vok := v.(string)
		if !kok || !vok {
			return securecookie.GobEncoder{}.Serialize(src)
		}
		size += 2*binary.MaxVarintLen32 + len(ks) + len(vs)
	}
	if len(values) > maxSessionEntries {
		return nil, fmt.Errorf("web: %d session values, at most %d", len(values), maxSessionEntries)
	}
	out := make([]byte, 1, size)
	out[0] = sessionEncodingV1
	for k, v := range values {
		ks, vs := k.(string), v.(string)
		out = binary.AppendUvarint(out, uint64(len(ks)))
		out = append(out, ks...)
		out = binary.AppendUvarint(out, uint64(len(vs)))
		out = append(out, vs...)
	}
	return out, nil
}

// Deserialize decodes src into dst, a *map[any]any, whichever of the two
// encodings wrote it.
func (sessionSerializer) Deserialize(src []byte, dst any) error {
	if len(src) == 0 || src[0] != sessionEncodingV1 {
		return securecookie.GobEncoder{}.Deserialize(src, dst)
	}
	values, ok := dst.(*map[any]any)
	if !ok {
		return fmt.Errorf("web: session values decode into %T", dst)
	}
	m := make(map[any]any, 4)
	rest := src[1:]
	next := func() (string, error) {
		n, w := binary.Uvarint(rest)
		if w <= 0 || n > uint64(len(rest)-w) {
			return "", errSessionEncoding
		}
		s := string(rest[w : w+int(n)])
		rest = rest[w+int(n):]
		return s, nil
	}
	for n := 0; len(rest) > 0; n++ {
		if n == maxSessionEntries {
			return errSessionEncoding
		}
		k, err := next()
		if err != nil {
			return err
		}
		v, err := next()
		if err != nil {
			return err
		}
		if _, dup := m[k]; dup {
			return errSessionEncoding // Serialize writes each key once
		}
		m[k] = v
	}
	*values = m
	return nil
}
