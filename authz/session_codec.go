package authz

import (
	"encoding"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/token/jwt"
)

// The binary session format. The store keeps a session with every code and
// token and decodes it on every exchange, refresh and introspection; JSON
// spent most of that time on reflection, field names and RFC 3339 times, and
// made rows several times larger than their content.
//
// Layout (version 1), every field always present, in this order:
//
//	version   byte 0x01: a control character, so no JSON text starts with it
//	strings   subject, username, workspace_id, client_id
//	time      auth_time, granted_at
//	expiries  uvarint count+1 (0: nil map), then per entry a token-type code
//	          (tokenTypeCodes, 0: the type's name follows as a string) and a time
//	string    jti
//	time      iat
//	byte      bit 0: ID-token claims follow, bit 1: ID-token headers follow
//	[claims]  strings jti, iss, sub; string list aud; string nonce;
//	          times exp, iat, rat, auth_time; strings at_hash, acr;
//	          string list amr; string c_hash; map extra
//	[headers] map extra
//
// A string is a uvarint length and its bytes. A string list and a map are a
// uvarint count+1 (0: nil) followed by the items; map keys are sorted. A time
// is a flag byte (0: the zero time; bit 1: nanoseconds follow; bit 2: a UTC
// offset follows) followed by zig-zag varint Unix seconds, uvarint
// nanoseconds and zig-zag varint offset seconds. A map value is a tagged
// value (valueTag); numbers decode as float64 and anything else as
// encoding/json would decode it, so a decoded session reads exactly as one
// that went through JSON.
const sessionFormatV1 = 0x01

// maxValueDepth bounds the nesting of claim values on decode, so that
// corrupt data cannot exhaust the stack.
const maxValueDepth = 32

var (
	_ encoding.BinaryMarshaler   = (*Session)(nil)
	_ encoding.BinaryUnmarshaler = (*Session)(nil)
)

// tokenTypeCodes are the one-byte codes of the token types fosite keeps an
// expiry for; index+1 is the code. Append only.
var tokenTypeCodes = []fosite.TokenType{
	fosite.AccessToken, fosite.RefreshToken, fosite.AuthorizeCode, fosite.IDToken,
	fosite.PushedAuthorizeRequestContext,
}

// valueTag is the type of a claim value in the binary format. Append only.
type valueTag byte

const (
	tagNull   valueTag = iota // nil
	tagFalse                  // false
	tagTrue                   // true
	tagString                 // string
	tagInt                    // a whole number up to 2^53, zig-zag varint; decodes as float64
	tagFloat                  // any other float64, 8 bytes big endian
	tagList                   // uvarint count, then values; decodes as []any
	tagMap                    // uvarint count, then sorted keys and values; decodes as map[string]any
	tagJSON                   // a string holding JSON, for any other type; decodes as encoding/json would
)

// errSessionData is wrapped by every decoding error.
var errSessionData = errors.New("authz: malformed session data")

// MarshalBinary encodes the session in the binary session format.
func (s *Session) MarshalBinary() ([]byte, error) {
	if s == nil {
		return nil, errors.New("authz: encode nil session")
	}
	b := make([]byte, 0, 160+len(s.Subject)+len(s.Username)+len(s.WorkspaceID)+len(s.ClientID))
	b = append(b, sessionFormatV1)
	b = appendString(b, s.Subject)
	b = appendString(b, s.Username)
	b = appendString(b, s.WorkspaceID)
	b = appendString(b, s.ClientID)
	b = appendTime(b, s.AuthTime)
	b = appendTime(b, s.GrantedAt)
	b = appendExpiries(b, s.ExpiresAt)
	b = appendString(b, s.JTI)
	b = appendTime(b, s.IssuedAt)
	var flags byte
	if s.IDClaims != nil {
		flags |= 1
	}
	if s.IDHeaders != nil {
		flags |= 2
	}
	b = append(b, flags)
	var err error
	if c := s.IDClaims; c != nil {
		b = appendString(b, c.JTI)
		b = appendString(b, c.Issuer)
		b = appendString(b, c.Subject)
		b = appendStrings(b, c.Audience)
		b = appendString(b, c.Nonce)
		b = appendTime(b, c.ExpiresAt)
		b = appendTime(b, c.IssuedAt)
		b = appendTime(b, c.RequestedAt)
		b = appendTime(b, c.AuthTime)
		b = appendString(b, c.AccessTokenHash)
		b = appendString(b, c.AuthenticationContextClassReference)
		b = appendStrings(b, c.AuthenticationMethodsReferences)
		b = appendString(b, c.CodeHash)
		if b, err = appendMap(b, c.Extra); err != nil {
			return nil, fmt.Errorf("authz: encode session: id token claims: %w", err)
		}
	}
	if h := s.IDHeaders; h != nil {
		if b, err = appendMap(b, h.Extra); err != nil {
			return nil, fmt.Errorf("authz: encode session: id token headers: %w", err)
		}
	}
	return b, nil
}

// UnmarshalBinary replaces the stored fields of s with data in the binary
// session format; the access-token lifespan s was made with is kept. On error
// s is left unchanged.
func (s *Session) UnmarshalBinary(data []byte) error {
	if len(data) == 0 || data[0] != sessionFormatV1 {
		if len(data) == 0 {
			return fmt.Errorf("%w: empty", errSessionData)
		}
		return fmt.Errorf("%w: unknown format version %#x", errSessionData, data[0])
	}
	// One string holds every string of the session: substrings share it
	// instead of costing an allocation each.
	d := decoder{s: string(data), off: 1}
	out := Session{accessLifespan: s.accessLifespan}
	out.Subject = d.string()
	out.Username = d.string()
	out.WorkspaceID = d.string()
	out.ClientID = d.string()
	out.AuthTime = d.time()
	out.GrantedAt = d.time()
	out.ExpiresAt = d.expiries()
	out.JTI = d.string()
	out.IssuedAt = d.time()
	flags := d.byte()
	if flags&^3 != 0 {
		d.fail("unknown flags")
	}
	if flags&1 != 0 {
		c := &jwt.IDTokenClaims{}
		c.JTI = d.string()
		c.Issuer = d.string()
		c.Subject = d.string()
		c.Audience = d.strings()
		c.Nonce = d.string()
		c.ExpiresAt = d.time()
		c.IssuedAt = d.time()
		c.RequestedAt = d.time()
		c.AuthTime = d.time()
		c.AccessTokenHash = d.string()
		c.AuthenticationContextClassReference = d.string()
		c.AuthenticationMethodsReferences = d.strings()
		c.CodeHash = d.string()
		c.Extra = d.map_(0)
		out.IDClaims = c
	}
	if flags&2 != 0 {
		out.IDHeaders = &jwt.Headers{Extra: d.map_(0)}
	}
	if d.err == nil && d.off != len(d.s) {
		d.fail("trailing bytes")
	}
	if d.err != nil {
		return d.err
	}
	// Decode into s the way encoding/json does, which fosite's handlers
	// rely on when they read a row again into a session they have already
	// filled (a code is read twice in one exchange): expiries already set
	// and not in the data stay, and so do the fields JSON omits when empty.
	if len(s.ExpiresAt) > 0 {
		merged := maps.Clone(s.ExpiresAt)
		maps.Copy(merged, out.ExpiresAt)
		out.ExpiresAt = merged
	}
	if out.JTI == "" {
		out.JTI = s.JTI
	}
	if out.IssuedAt.IsZero() {
		out.IssuedAt = s.IssuedAt
	}
	if out.IDClaims == nil {
		out.IDClaims = s.IDClaims
	}
	if out.IDHeaders == nil {
		out.IDHeaders = s.IDHeaders
	}
	*s = out
	return nil
}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendString(b []byte, v string) []byte {
	return append(appendUvarint(b, uint64(len(v))), v...)
}

// appendCount writes the count+1 of a list or map, 0 for nil.
func appendCount(b []byte, n int, isNil bool) []byte {
	if isNil {
		return append(b, 0)
	}
	return appendUvarint(b, uint64(n)+1)
}

func appendStrings(b []byte, v []string) []byte {
	b = appendCount(b, len(v), v == nil)
	for _, s := range v {
		b = appendString(b, s)
	}
	return b
}

// Flags of an encoded time.
const (
	timeSet    = 1
	timeNanos  = 2
	timeOffset = 4
)

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	var flags byte = timeSet
	nsec := t.Nanosecond()
	if nsec != 0 {
		flags |= timeNanos
	}
	_, offset := t.Zone()
	if offset != 0 {
		flags |= timeOffset
	}
	b = append(b, flags)
	b = binary.AppendVarint(b, t.Unix())
	if nsec != 0 {
		b = appendUvarint(b, uint64(nsec))
	}
	if offset != 0 {
		b = binary.AppendVarint(b, int64(offset))
	}
	return b
}

func appendExpiries(b []byte, m map[fosite.TokenType]time.Time) []byte {
	b = appendCount(b, len(m), m == nil)
	keys := make([]fosite.TokenType, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if i := slices.Index(tokenTypeCodes, k); i >= 0 {
			b = append(b, byte(i+1))
		} else {
			b = append(b, 0)
			b = appendString(b, string(k))
		}
		b = appendTime(b, m[k])
	}
	return b
}

func appendMap(b []byte, m map[string]any) ([]byte, error) {
	b = appendCount(b, len(m), m == nil)
	if len(m) == 0 {
		return b, nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var err error
	for _, k := range keys {
		b = appendString(b, k)
		if b, err = appendValue(b, m[k]); err != nil {
			return nil, fmt.Errorf("claim %q: %w", k, err)
		}
	}
	return b, nil
}

// maxExactInt is the largest whole number every float64 up to it represents exactly.
const maxExactInt = 1 << 53

func appendNumber(b []byte, f float64) []byte {
	if f == math.Trunc(f) && math.Abs(f) <= maxExactInt && !(f == 0 && math.Signbit(f)) {
		return binary.AppendVarint(append(b, byte(tagInt)), int64(f))
	}
	return binary.BigEndian.AppendUint64(append(b, byte(tagFloat)), math.Float64bits(f))
}

// appendValue writes a claim value. Numbers of any type are stored as the
// float64 that JSON would have decoded; types without a tag of their own are
// stored as their JSON encoding.
func appendValue(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, byte(tagNull)), nil
	case bool:
		if v {
			return append(b, byte(tagTrue)), nil
		}
		return append(b, byte(tagFalse)), nil
	case string:
		return appendString(append(b, byte(tagString)), v), nil
	case float64:
		return appendNumber(b, v), nil
	case float32:
		return appendNumber(b, float64(v)), nil
	case int:
		return appendNumber(b, float64(v)), nil
	case int64:
		return appendNumber(b, float64(v)), nil
	case int32:
		return appendNumber(b, float64(v)), nil
	case uint:
		return appendNumber(b, float64(v)), nil
	case uint64:
		return appendNumber(b, float64(v)), nil
	case uint32:
		return appendNumber(b, float64(v)), nil
	case []string:
		b = appendUvarint(append(b, byte(tagList)), uint64(len(v)))
		for _, s := range v {
			b = appendString(append(b, byte(tagString)), s)
		}
		return b, nil
	case []any:
		b = appendUvarint(append(b, byte(tagList)), uint64(len(v)))
		var err error
		for _, e := range v {
			if b, err = appendValue(b, e); err != nil {
				return nil, err
			}
		}
		return b, nil
	case map[string]any:
		if v == nil {
			return append(b, byte(tagNull)), nil
		}
		b = append(b, byte(tagMap))
		// appendMap writes count+1 for a non-nil map.
		return appendMap(b, v)
	default:
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return appendString(append(b, byte(tagJSON)), string(raw)), nil
	}
}

// decoder reads the binary session format from s. The first error sticks:
// later reads return zero values, and the caller checks err once.
type decoder struct {
	s   string
	off int
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at byte %d", errSessionData, what, d.off)
	}
	d.off = len(d.s)
}

func (d *decoder) byte() byte {
	if d.off >= len(d.s) {
		d.fail("unexpected end")
		return 0
	}
	c := d.s[d.off]
	d.off++
	return c
}

func (d *decoder) uvarint() uint64 {
	var v uint64
	for shift := uint(0); shift < 64; shift += 7 {
		if d.off >= len(d.s) {
			d.fail("unexpected end")
			return 0
		}
		c := d.s[d.off]
		d.off++
		if c < 0x80 {
			if shift == 63 && c > 1 {
				break
			}
			return v | uint64(c)<<shift
		}
		v |= uint64(c&0x7f) << shift
	}
	d.fail("varint overflow")
	return 0
}

func (d *decoder) varint() int64 {
	u := d.uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.s)-d.off) {
		d.fail("string too long")
		return ""
	}
	v := d.s[d.off : d.off+int(n)]
	d.off += int(n)
	return v
}

// count reads the count of a list or map whose items take at least one byte
// each, so that corrupt data cannot ask for a huge allocation.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.s)-d.off) {
		d.fail("count too large")
		return 0
	}
	return int(n)
}

// nilableCount reads count+1; isNil reports 0.
func (d *decoder) nilableCount() (n int, isNil bool) {
	c := d.uvarint()
	if c == 0 {
		return 0, true
	}
	if c-1 > uint64(len(d.s)-d.off) {
		d.fail("count too large")
		return 0, true
	}
	return int(c - 1), false
}

func (d *decoder) strings() []string {
	n, isNil := d.nilableCount()
	if isNil {
		return nil
	}
	v := make([]string, n)
	for i := range v {
		v[i] = d.string()
	}
	return v
}

func (d *decoder) time() time.Time {
	flags := d.byte()
	if flags == 0 {
		return time.Time{}
	}
	if flags&^(timeSet|timeNanos|timeOffset) != 0 || flags&timeSet == 0 {
		d.fail("bad time flags")
		return time.Time{}
	}
	sec := d.varint()
	var nsec uint64
	if flags&timeNanos != 0 {
		if nsec = d.uvarint(); nsec >= 1e9 {
			d.fail("bad nanoseconds")
			return time.Time{}
		}
	}
	t := time.Unix(sec, int64(nsec))
	if flags&timeOffset == 0 {
		return t.UTC()
	}
	offset := d.varint()
	if offset == 0 || offset < -24*3600 || offset > 24*3600 {
		d.fail("bad UTC offset")
		return time.Time{}
	}
	// As encoding/json (time.Parse) does: the local zone when it has that
	// offset at that instant, else a fixed zone.
	if local := t.In(time.Local); zoneOffset(local) == int(offset) {
		return local
	}
	return t.In(time.FixedZone("", int(offset)))
}

func zoneOffset(t time.Time) int {
	_, off := t.Zone()
	return off
}

func (d *decoder) expiries() map[fosite.TokenType]time.Time {
	n, isNil := d.nilableCount()
	if isNil {
		return nil
	}
	m := make(map[fosite.TokenType]time.Time, n)
	for range n {
		var k fosite.TokenType
		switch c := int(d.byte()); {
		case c == 0:
			k = fosite.TokenType(d.string())
		case c <= len(tokenTypeCodes):
			k = tokenTypeCodes[c-1]
		default:
			d.fail("unknown token type")
		}
		m[k] = d.time()
	}
	return m
}

func (d *decoder) map_(depth int) map[string]any {
	n, isNil := d.nilableCount()
	if isNil {
		return nil
	}
	m := make(map[string]any, n)
	for range n {
		k := d.string()
		m[k] = d.value(depth + 1)
		if d.err != nil {
			return nil
		}
	}
	return m
}

func (d *decoder) value(depth int) any {
	if depth > maxValueDepth {
		d.fail("values nested too deep")
		return nil
	}
	switch valueTag(d.byte()) {
	case tagNull:
		return nil
	case tagFalse:
		return false
	case tagTrue:
		return true
	case tagString:
		return d.string()
	case tagInt:
		v := d.varint()
		if v > maxExactInt || v < -maxExactInt {
			d.fail("number out of range")
			return nil
		}
		return float64(v)
	case tagFloat:
		if len(d.s)-d.off < 8 {
			d.fail("unexpected end")
			return nil
		}
		var bits uint64
		for _, c := range []byte(d.s[d.off : d.off+8]) {
			bits = bits<<8 | uint64(c)
		}
		d.off += 8
		return math.Float64frombits(bits)
	case tagList:
		n := d.count()
		v := make([]any, n)
		for i := range v {
			v[i] = d.value(depth + 1)
		}
		return v
	case tagMap:
		m := d.map_(depth)
		if m == nil && d.err == nil {
			d.fail("nil map value")
		}
		return m
	case tagJSON:
		var v any
		if err := json.Unmarshal([]byte(d.string()), &v); err != nil {
			d.fail("bad JSON value")
			return nil
		}
		return v
	default:
		d.fail("unknown value tag")
		return nil
	}
}
