package ietf

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them, so callers can classify failures with errors.Is.
var (
	// ErrTruncated means the input ended inside a message or field.
	ErrTruncated = errors.New("truncated")
	// ErrTrailing means bytes were left over after a message body.
	ErrTrailing = errors.New("trailing bytes")
	// ErrTooLarge means a length or count exceeds a limit of this package
	// ([MaxNamespaceFields], [MaxFullTrackName], [MaxReasonLen],
	// [MaxGoawayURILen], [MaxKVPValueLen]).
	ErrTooLarge = errors.New("too large")
	// ErrInvalid means a value is out of range: a reserved varint code
	// point, a bool byte other than 0/1, an unknown or duplicate message
	// parameter, a Key-Value-Pair type that overflows 64 bits, an unknown
	// stream or message type, or a message that does not exist in the
	// requested version.
	ErrInvalid = errors.New("invalid")
)

// panicf reports a programming error in the caller of an Append method.
func panicf(format string, args ...any) {
	panic(fmt.Sprintf("ietf: "+format, args...))
}

// needVersion panics unless ok; it guards Append and Len for messages that do
// not exist in v.
func needVersion(ok bool, msg string, v Version) {
	if !ok {
		panicf("%s does not exist in %s", msg, v)
	}
}

// versionError is the Parse error for a message that does not exist in v.
func versionError(msg string, v Version) error {
	return fmt.Errorf("ietf: %s: %w: message does not exist in %s", msg, ErrInvalid, v)
}

// bytesLen is the encoded size of Length(vi64) | n bytes.
func bytesLen(n int) int {
	return VarintLen(uint64(n)) + n
}

// appendBytes appends Length(vi64) | s.
func appendBytes[S string | []byte](b []byte, s S) []byte {
	b = AppendVarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendBool appends a bool as one byte, 0 or 1.
func appendBool(b []byte, x bool) []byte {
	if x {
		return append(b, 1)
	}
	return append(b, 0)
}

// parser is a cursor over one message body. The first failure sticks; later
// reads return zero values, and finish reports it.
type parser struct {
	b   []byte
	v   Version
	msg string
	err error
}

// fail records the first error, naming the message and field.
func (p *parser) fail(field string, sentinel error, detail string) {
	if p.err != nil {
		return
	}
	if detail == "" {
		p.err = fmt.Errorf("ietf: %s: %s: %w", p.msg, field, sentinel)
	} else {
		p.err = fmt.Errorf("ietf: %s: %s: %w (%s)", p.msg, field, sentinel, detail)
	}
}

// varint reads one vi64.
func (p *parser) varint(field string) uint64 {
	if p.err != nil {
		return 0
	}
	x, n, err := ParseVarint(p.b, p.v)
	if err != nil {
		if errors.Is(err, ErrInvalid) {
			p.fail(field, ErrInvalid, "reserved varint code point")
		} else {
			p.fail(field, ErrTruncated, "")
		}
		return 0
	}
	p.b = p.b[n:]
	return x
}

// u8 reads one byte.
func (p *parser) u8(field string) uint8 {
	if p.err != nil {
		return 0
	}
	if len(p.b) < 1 {
		p.fail(field, ErrTruncated, "")
		return 0
	}
	c := p.b[0]
	p.b = p.b[1:]
	return c
}

// u16 reads a big-endian 16-bit integer.
func (p *parser) u16(field string) uint16 {
	if p.err != nil {
		return 0
	}
	if len(p.b) < 2 {
		p.fail(field, ErrTruncated, "")
		return 0
	}
	x := uint16(p.b[0])<<8 | uint16(p.b[1])
	p.b = p.b[2:]
	return x
}

// bool reads one byte that must be 0 or 1.
func (p *parser) bool(field string) bool {
	c := p.u8(field)
	if p.err != nil {
		return false
	}
	switch c {
	case 0:
		return false
	case 1:
		return true
	}
	p.fail(field, ErrInvalid, fmt.Sprintf("bool byte %d", c))
	return false
}

// raw reads exactly n bytes, aliasing the input.
func (p *parser) raw(field string, n uint64) []byte {
	if p.err != nil {
		return nil
	}
	if n > uint64(len(p.b)) {
		p.fail(field, ErrTruncated, fmt.Sprintf("length %d, %d bytes left", n, len(p.b)))
		return nil
	}
	v := p.b[:n:n]
	p.b = p.b[n:]
	return v
}

// bytes reads Length(vi64) | bytes of at most max bytes and returns a slice
// aliasing the input.
func (p *parser) bytes(field string, max int) []byte {
	n := p.varint(field)
	if p.err != nil {
		return nil
	}
	if n > uint64(max) {
		p.fail(field, ErrTooLarge, fmt.Sprintf("length %d, limit %d", n, max))
		return nil
	}
	return p.raw(field, n)
}

// string reads Length(vi64) | bytes of at most max bytes as a string. The
// drafts give names and reasons as bytes; they are not checked for UTF-8.
func (p *parser) string(field string, max int) string {
	return string(p.bytes(field, max))
}

// rest returns the unread bytes, aliasing the input, and consumes them.
func (p *parser) rest() []byte {
	if p.err != nil {
		return nil
	}
	v := p.b[:len(p.b):len(p.b)]
	p.b = p.b[len(p.b):]
	return v
}

// finish returns the first error, or ErrTrailing if input is left over.
func (p *parser) finish() error {
	if p.err == nil && len(p.b) != 0 {
		p.err = fmt.Errorf("ietf: %s: %w (%d bytes after the body)", p.msg, ErrTrailing, len(p.b))
	}
	return p.err
}

// Location identifies an Object by Group and Object ID.
type Location struct {
	// Group is the Group ID.
	Group uint64
	// Object is the Object ID within the group.
	Object uint64
}

// appendLocation appends Group(vi64) | Object(vi64).
func appendLocation(b []byte, l Location) []byte {
	return AppendVarint(AppendVarint(b, l.Group), l.Object)
}

// locationLen is the encoded size of l.
func locationLen(l Location) int {
	return VarintLen(l.Group) + VarintLen(l.Object)
}

// location reads Group(vi64) | Object(vi64).
func (p *parser) location(field string) Location {
	return Location{Group: p.varint(field), Object: p.varint(field)}
}

// Namespace is a Track Namespace: an ordered tuple of byte-string fields,
// at most [MaxNamespaceFields], none of them empty.
type Namespace []string

// Validate reports whether ns can be sent: at most MaxNamespaceFields
// fields, none empty, at most MaxFullTrackName bytes in all (ErrTooLarge or
// ErrInvalid otherwise). Append panics on a namespace that fails it, so
// check names that come from elsewhere (a moq-lite path, a user) first.
func (ns Namespace) Validate() error {
	if len(ns) > MaxNamespaceFields {
		return fmt.Errorf("ietf: namespace: %w (%d fields, limit %d)", ErrTooLarge, len(ns), MaxNamespaceFields)
	}
	total := 0
	for i, f := range ns {
		if f == "" {
			return fmt.Errorf("ietf: namespace: %w (field %d is empty)", ErrInvalid, i)
		}
		total += len(f)
	}
	if total > MaxFullTrackName {
		return fmt.Errorf("ietf: namespace: %w (%d bytes, limit %d)", ErrTooLarge, total, MaxFullTrackName)
	}
	return nil
}

// namespaceLen is the encoded size of Count(vi64) | (Length | bytes)*.
func namespaceLen(ns Namespace) int {
	n := VarintLen(uint64(len(ns)))
	for _, f := range ns {
		n += bytesLen(len(f))
	}
	return n
}

// appendNamespace appends Count(vi64) | (Length | bytes)*. It panics if ns
// fails Validate.
func appendNamespace(b []byte, ns Namespace) []byte {
	if err := ns.Validate(); err != nil {
		panic(err.Error())
	}
	b = AppendVarint(b, uint64(len(ns)))
	for _, f := range ns {
		b = appendBytes(b, f)
	}
	return b
}

// namespace reads a Track Namespace. The field count is checked before any
// field is read, and the total length of the fields against
// MaxFullTrackName; an empty field is ErrInvalid. A zero count yields nil.
func (p *parser) namespace(field string) Namespace {
	n := p.varint(field)
	if p.err != nil {
		return nil
	}
	if n > MaxNamespaceFields {
		p.fail(field, ErrTooLarge, fmt.Sprintf("%d fields, limit %d", n, MaxNamespaceFields))
		return nil
	}
	// Each field takes at least its length byte.
	if n > uint64(len(p.b)) {
		p.fail(field, ErrTruncated, fmt.Sprintf("%d fields in %d bytes", n, len(p.b)))
		return nil
	}
	if n == 0 {
		return nil
	}
	ns := make(Namespace, n)
	total := 0
	for i := range ns {
		ns[i] = p.string(field, MaxFullTrackName-total)
		total += len(ns[i])
		if p.err == nil && ns[i] == "" {
			p.fail(field, ErrInvalid, fmt.Sprintf("field %d is empty", i))
		}
	}
	if p.err != nil {
		return nil
	}
	return ns
}

// trackName reads a track name, bounding it so that namespace plus name fit
// in MaxFullTrackName.
func (p *parser) trackName(field string, ns Namespace) string {
	total := 0
	for _, f := range ns {
		total += len(f)
	}
	return p.string(field, MaxFullTrackName-total)
}
