package wire

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/quic-go/quic-go/quicvarint"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them (or is io.EOF / io.ErrUnexpectedEOF / an error of the underlying
// stream, for [Reader]), so callers can classify failures with errors.Is.
var (
	// ErrTruncated means the input ended inside a message or field.
	ErrTruncated = errors.New("truncated")
	// ErrTrailing means bytes were left over after a message body.
	ErrTrailing = errors.New("trailing bytes")
	// ErrTooLarge means a length or count exceeds a limit: the message size
	// limit of a [Reader], [MaxHops], [MaxSetupParams] or
	// [MaxDatagramPayload].
	ErrTooLarge = errors.New("too large")
	// ErrInvalid means a value is out of range: a bool byte other than 0/1,
	// an unknown announce status, a zero timescale, a string that is not
	// UTF-8, a duplicate or malformed SETUP parameter, or a message that does
	// not exist in the requested version.
	ErrInvalid = errors.New("invalid")
)

// AppendVarint appends v as a QUIC varint in its shortest form. It panics
// if v > [MaxVarint].
func AppendVarint(b []byte, v uint64) []byte {
	return quicvarint.Append(b, v)
}

// VarintLen returns the number of bytes [AppendVarint] writes for v. It
// panics if v > [MaxVarint].
func VarintLen(v uint64) int {
	return quicvarint.Len(v)
}

// ParseVarint decodes one QUIC varint from the start of b, returning its value
// and the number of bytes it occupied. It returns an error wrapping
// [ErrTruncated] if b is empty or ends inside the varint.
func ParseVarint(b []byte) (v uint64, n int, err error) {
	v, n, err = quicvarint.Parse(b)
	if err != nil {
		return 0, 0, fmt.Errorf("wire: varint: %w", ErrTruncated)
	}
	return v, n, nil
}

// panicf reports a programming error in the caller of an Append method.
func panicf(format string, args ...any) {
	panic(fmt.Sprintf("wire: "+format, args...))
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
	return fmt.Errorf("wire: %s: %w: message does not exist in %s", msg, ErrInvalid, v)
}

// frameLen is the size of Length(i) | body for a body of n bytes.
func frameLen(n int) int {
	return quicvarint.Len(uint64(n)) + n
}

// stringLen is the encoded size of a length-prefixed string.
func stringLen(s string) int {
	return quicvarint.Len(uint64(len(s))) + len(s)
}

// appendString appends Length(i) | bytes.
func appendString(b []byte, s string) []byte {
	b = quicvarint.Append(b, uint64(len(s)))
	return append(b, s...)
}

// appendBool appends a bool as one byte, 0 or 1.
func appendBool(b []byte, x bool) []byte {
	if x {
		return append(b, 1)
	}
	return append(b, 0)
}

// optGroup is the wire value of an optional group: 0 for none, else seq+1.
func optGroup(seq uint64, has bool) uint64 {
	if !has {
		return 0
	}
	if seq >= MaxVarint {
		panicf("optional group %d does not fit in a varint once incremented", seq)
	}
	return seq + 1
}

// parser is a cursor over one message body. The first failure sticks; later
// reads return zero values, and finish reports it.
type parser struct {
	b   []byte
	msg string
	err error
}

// fail records the first error, naming the message and field.
func (p *parser) fail(field string, sentinel error, detail string) {
	if p.err != nil {
		return
	}
	if detail == "" {
		p.err = fmt.Errorf("wire: %s: %s: %w", p.msg, field, sentinel)
	} else {
		p.err = fmt.Errorf("wire: %s: %s: %w (%s)", p.msg, field, sentinel, detail)
	}
}

// varint reads one QUIC varint.
func (p *parser) varint(field string) uint64 {
	if p.err != nil {
		return 0
	}
	v, n, err := quicvarint.Parse(p.b)
	if err != nil {
		p.fail(field, ErrTruncated, "")
		return 0
	}
	p.b = p.b[n:]
	return v
}

// u8 reads one raw byte.
func (p *parser) u8(field string) uint8 {
	if p.err != nil {
		return 0
	}
	if len(p.b) == 0 {
		p.fail(field, ErrTruncated, "")
		return 0
	}
	c := p.b[0]
	p.b = p.b[1:]
	return c
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

// bytes reads Length(i) | bytes and returns a slice aliasing the input.
func (p *parser) bytes(field string) []byte {
	n := p.varint(field)
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

// string reads a length-prefixed UTF-8 string.
func (p *parser) string(field string) string {
	v := p.bytes(field)
	if p.err != nil {
		return ""
	}
	if !utf8.Valid(v) {
		p.fail(field, ErrInvalid, "not UTF-8")
		return ""
	}
	return string(v)
}

// optGroup reads an optional group (0 none, else seq+1).
func (p *parser) optGroup(field string) (uint64, bool) {
	v := p.varint(field)
	if v == 0 {
		return 0, false
	}
	return v - 1, true
}

// finish returns the first error, or ErrTrailing if input is left over.
func (p *parser) finish() error {
	if p.err == nil && len(p.b) != 0 {
		p.err = fmt.Errorf("wire: %s: %w (%d bytes after the body)", p.msg, ErrTrailing, len(p.b))
	}
	return p.err
}
