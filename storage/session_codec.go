package storage

import (
	"encoding"
	"encoding/json"
	"fmt"

	"github.com/ory/fosite"
)

// A session's data (the session_data column) is either JSON, as every row
// written before migration 014 is, or a session type's own binary encoding.
// A binary encoding starts with its format version, a control character
// other than JSON whitespace, which no JSON text starts with: so the first
// byte tells the two apart, and rows of either kind stay readable.

// isBinarySession reports whether data is a binary encoding rather than JSON.
func isBinarySession(data []byte) bool {
	return len(data) > 0 && data[0] < 0x20 && data[0] != '\t' && data[0] != '\n' && data[0] != '\r'
}

// encodeSession encodes s in its binary format when it has one
// (encoding.BinaryMarshaler), else as JSON.
func encodeSession(s fosite.Session) ([]byte, error) {
	if m, ok := s.(encoding.BinaryMarshaler); ok {
		data, err := m.MarshalBinary()
		if err != nil {
			return nil, err
		}
		if !isBinarySession(data) {
			// It would be read back as JSON.
			return nil, fmt.Errorf("binary encoding of %T does not start with a format version", s)
		}
		return data, nil
	}
	return json.Marshal(s)
}

// decodeSession decodes data, binary or JSON, into s.
func decodeSession(data []byte, s fosite.Session) error {
	if isBinarySession(data) {
		u, ok := s.(encoding.BinaryUnmarshaler)
		if !ok {
			return fmt.Errorf("binary session data for %T, which has no binary encoding", s)
		}
		return u.UnmarshalBinary(data)
	}
	return json.Unmarshal(data, s)
}
